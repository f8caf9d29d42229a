package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"taskrouter.example/gateway/client"
	gatewayv1 "taskrouter.example/gateway/taskrouter/gateway/v1"
)

// probe fails the first `failures` calls of each method with `code` (UNAVAILABLE unless set), counts the calls
// and records the authorization header.
type probe struct {
	gatewayv1.UnimplementedWorkerServiceServer
	mu       sync.Mutex
	failures int
	code     codes.Code
	calls    map[string]int
	auth     []string
}

func (p *probe) enter(ctx context.Context, method string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[method]++
	md, _ := metadata.FromIncomingContext(ctx)
	p.auth = append(p.auth, md.Get("authorization")...)
	if p.calls[method] <= p.failures {
		return status.Error(p.code, "try again")
	}
	return nil
}

func (p *probe) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

func (p *probe) GetWorker(ctx context.Context, r *gatewayv1.GetWorkerRequest) (*gatewayv1.Worker, error) {
	if err := p.enter(ctx, "GetWorker"); err != nil {
		return nil, err
	}
	return &gatewayv1.Worker{Sid: r.Sid}, nil
}

func (p *probe) CreateWorker(ctx context.Context, r *gatewayv1.CreateWorkerRequest) (*gatewayv1.Worker, error) {
	if err := p.enter(ctx, "CreateWorker"); err != nil {
		return nil, err
	}
	return &gatewayv1.Worker{FriendlyName: r.FriendlyName}, nil
}

func startProbe(t *testing.T, failures int) (*probe, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{failures: failures, code: codes.Unavailable, calls: map[string]int{}}
	server := grpc.NewServer()
	gatewayv1.RegisterWorkerServiceServer(server, p)
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	return p, lis.Addr().String()
}

// The retry interceptor retries with no GRPC_GO_RETRY in the environment (the CI test removes it).
func TestTheServiceConfigRetriesIdempotentMethodsOnly(t *testing.T) {
	p, addr := startProbe(t, 1)
	conn, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	workers := gatewayv1.NewWorkerServiceClient(conn)
	got, err := workers.GetWorker(ctx, &gatewayv1.GetWorkerRequest{Sid: "WK1"})
	if err != nil || got.Sid != "WK1" || p.calls["GetWorker"] != 2 {
		t.Fatalf("GetWorker: %v %v, calls %d", got, err, p.calls["GetWorker"])
	}
	_, err = workers.CreateWorker(ctx, &gatewayv1.CreateWorkerRequest{FriendlyName: "x"})
	if status.Code(err) != codes.Unavailable || p.calls["CreateWorker"] != 1 {
		t.Fatalf("CreateWorker: %v, calls %d", err, p.calls["CreateWorker"])
	}
}

func TestWithoutRetryMakesOneAttempt(t *testing.T) {
	p, addr := startProbe(t, 1)
	conn, err := client.Dial(addr, client.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = gatewayv1.NewWorkerServiceClient(conn).GetWorker(context.Background(), &gatewayv1.GetWorkerRequest{Sid: "a"})
	if status.Code(err) != codes.Unavailable || p.calls["GetWorker"] != 1 {
		t.Fatalf("GetWorker: %v, calls %d", err, p.calls["GetWorker"])
	}
}

func TestATokenTravelsAsBearerMetadata(t *testing.T) {
	p, addr := startProbe(t, 0)
	conn, err := client.Dial(addr, client.WithToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := gatewayv1.NewWorkerServiceClient(conn).GetWorker(context.Background(), &gatewayv1.GetWorkerRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(p.auth) != 1 || p.auth[0] != "Bearer s3cret" {
		t.Fatalf("authorization: %v", p.auth)
	}
}
