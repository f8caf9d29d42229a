package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"taskrouter.example/gateway/client"
	gatewayv1 "taskrouter.example/gateway/taskrouter/gateway/v1"
)

func dialProbe(t *testing.T, addr string, opts ...client.Option) gatewayv1.WorkerServiceClient {
	t.Helper()
	conn, err := client.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gatewayv1.NewWorkerServiceClient(conn)
}

// withPolicy dials with only the retry interceptor for a service config of one WorkerService entry.
func withPolicy(t *testing.T, addr, name, policy string) gatewayv1.WorkerServiceClient {
	t.Helper()
	retry, err := client.RetryInterceptor(`{"methodConfig": [{"name": [` + name + `], "retryPolicy": ` + policy + `}]}`)
	if err != nil {
		t.Fatal(err)
	}
	return dialProbe(t, addr, client.WithoutRetry(), client.WithDialOptions(grpc.WithChainUnaryInterceptor(retry)))
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	defer client.PinJitter(0)()
	p, addr := startProbe(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := dialProbe(t, addr).GetWorker(ctx, &gatewayv1.GetWorkerRequest{Sid: "WK1"})
	// Exactly maxAttempts (4): grpc-go's own retries are not also applied on top of the interceptor's.
	if status.Code(err) != codes.Unavailable || p.count("GetWorker") != 4 {
		t.Fatalf("GetWorker: %v, calls %d", err, p.count("GetWorker"))
	}
}

func TestANonRetryableCodeIsNotRetried(t *testing.T) {
	defer client.PinJitter(0)()
	p, addr := startProbe(t, 1)
	p.code = codes.NotFound
	_, err := dialProbe(t, addr).GetWorker(context.Background(), &gatewayv1.GetWorkerRequest{Sid: "WK1"})
	if status.Code(err) != codes.NotFound || p.count("GetWorker") != 1 {
		t.Fatalf("GetWorker: %v, calls %d", err, p.count("GetWorker"))
	}
}

// The second backoff (100s) would outlast the deadline (60s): the call returns the last error at once instead
// of sleeping into DEADLINE_EXCEEDED.
func TestADeadlineStopsRetrying(t *testing.T) {
	defer client.PinJitter(1)()
	p, addr := startProbe(t, 100)
	workers := withPolicy(t, addr, `{"service": "taskrouter.gateway.v1.WorkerService", "method": "GetWorker"}`,
		`{"maxAttempts": 10, "initialBackoff": "0.001s", "maxBackoff": "1000s", "backoffMultiplier": 100000,
		  "retryableStatusCodes": ["UNAVAILABLE"]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := workers.GetWorker(ctx, &gatewayv1.GetWorkerRequest{Sid: "WK1"})
	if status.Code(err) != codes.Unavailable || p.count("GetWorker") != 2 {
		t.Fatalf("GetWorker: %v, calls %d", err, p.count("GetWorker"))
	}
}

func TestAServiceWideEntryCoversEveryMethod(t *testing.T) {
	defer client.PinJitter(0)()
	p, addr := startProbe(t, 2)
	workers := withPolicy(t, addr, `{"service": "taskrouter.gateway.v1.WorkerService"}`,
		`{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 1,
		  "retryableStatusCodes": ["UNAVAILABLE"]}`)
	got, err := workers.CreateWorker(context.Background(), &gatewayv1.CreateWorkerRequest{FriendlyName: "x"})
	if err != nil || got.FriendlyName != "x" || p.count("CreateWorker") != 3 {
		t.Fatalf("CreateWorker: %v %v, calls %d", got, err, p.count("CreateWorker"))
	}
}

func TestAMalformedServiceConfigIsRejected(t *testing.T) {
	for config, want := range map[string]string{
		`{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 4, "initialBackoff": "soon",
		  "maxBackoff": "5s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`: "initialBackoff",
		`{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 4, "initialBackoff": "1s",
		  "maxBackoff": "5s", "backoffMultiplier": 2, "retryableStatusCodes": ["NOPE"]}}]}`: "NOPE",
		`{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 1, "initialBackoff": "1s",
		  "maxBackoff": "5s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`: "invalid retryPolicy",
	} {
		if _, err := client.RetryInterceptor(config); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %q, got %v", want, err)
		}
	}
}
