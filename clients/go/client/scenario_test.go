package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"taskrouter.example/gateway/client"
	gatewayv1 "taskrouter.example/gateway/taskrouter/gateway/v1"
)

func level(t *testing.T, e *gatewayv1.StreamedEvent) float64 {
	t.Helper()
	var attrs map[string]interface{}
	if err := json.Unmarshal([]byte(e.GetEvent().GetWorker().GetWorkerAttributes()), &attrs); err != nil {
		t.Fatalf("worker attributes: %v", err)
	}
	return attrs["level"].(float64)
}

func attrs(tag string, n int) *string {
	s := fmt.Sprintf(`{"tag": %q, "level": %d}`, tag, n)
	return &s
}

// The scenario every client language runs against a live gateway (GATEWAY_TARGET, GATEWAY_WORKSPACE).
func TestScenarioAgainstALiveGateway(t *testing.T) {
	target, ws := os.Getenv("GATEWAY_TARGET"), os.Getenv("GATEWAY_WORKSPACE")
	if target == "" || ws == "" {
		t.Fatal("set GATEWAY_TARGET and GATEWAY_WORKSPACE to a running gateway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := client.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	workers := gatewayv1.NewWorkerServiceClient(conn)
	events := gatewayv1.NewEventServiceClient(conn)
	tag := fmt.Sprintf("go-%d", time.Now().UnixNano())

	// 1. create; 2. list by TargetWorkersExpression.
	alice, err := workers.CreateWorker(ctx, &gatewayv1.CreateWorkerRequest{
		WorkspaceSid: ws, FriendlyName: tag, Attributes: *attrs(tag, 1)})
	if err != nil {
		t.Fatal(err)
	}
	page, err := workers.ListWorkers(ctx, &gatewayv1.ListWorkersRequest{
		WorkspaceSid: ws, TargetWorkersExpression: fmt.Sprintf("tag == '%s'", tag)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Workers) != 1 || page.Workers[0].Sid != alice.Sid {
		t.Fatalf("list by expression: %v", page.Workers)
	}

	// 3. update with the etag just read.
	updated, err := workers.UpdateWorker(ctx, &gatewayv1.UpdateWorkerRequest{
		WorkspaceSid: ws, Sid: alice.Sid, Attributes: attrs(tag, 2), Etag: alice.Etag})
	if err != nil || updated.Etag == "" || updated.Etag == alice.Etag {
		t.Fatalf("update with etag: %v %v", updated, err)
	}

	// 4. a stale etag: ABORTED, with Twilio's code in the ErrorInfo.
	empty := "{}"
	_, err = workers.UpdateWorker(ctx, &gatewayv1.UpdateWorkerRequest{
		WorkspaceSid: ws, Sid: alice.Sid, Attributes: &empty, Etag: alice.Etag})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	if info := client.Details(err).ErrorInfo; info == nil || info.Metadata["twilio_code"] != "20412" {
		t.Fatalf("stale etag ErrorInfo: %v", info)
	}

	// 5. a bad name: INVALID_ARGUMENT with a BadRequest naming the field.
	long := fmt.Sprintf("%065d", 0)
	_, err = workers.CreateWorker(ctx, &gatewayv1.CreateWorkerRequest{WorkspaceSid: ws, FriendlyName: long})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad name: %v", err)
	}
	bad := client.Details(err).BadRequest
	if bad == nil || len(bad.FieldViolations) != 1 || bad.FieldViolations[0].Field != "friendly_name" {
		t.Fatalf("bad name BadRequest: %v", bad)
	}

	// 6. stream worker.* events: wait for the headers (subscribed), change the worker, read, disconnect.
	request := &gatewayv1.StreamEventsRequest{WorkspaceSid: ws, EventTypes: []string{"worker.*"}, WorkerSid: alice.Sid}
	firstCtx, stopFirst := context.WithCancel(ctx)
	stream, err := events.StreamEvents(firstCtx, request)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // blocks until the gateway has registered the subscription
		t.Fatal(err)
	}
	for _, n := range []int{3, 4} {
		if _, err := workers.UpdateWorker(ctx, &gatewayv1.UpdateWorkerRequest{
			WorkspaceSid: ws, Sid: alice.Sid, Attributes: attrs(tag, n)}); err != nil {
			t.Fatal(err)
		}
	}
	// Events committed after the headers, in order. Callbacks reach the gateway asynchronously, so the
	// worker's earlier events (created, level 2) may still arrive first: they come before level 3.
	var first *gatewayv1.StreamedEvent
	for first == nil {
		message, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range message.Events {
			if first == nil && level(t, e) >= 3 {
				first = e
			}
		}
	}
	stopFirst()
	if first.GetEvent().GetWorker().GetWorkerSid() != alice.Sid || level(t, first) != 3 {
		t.Fatalf("first event: %v", first)
	}

	// Resume after the last cursor: the next events, with no gap and no duplicate.
	if _, err := workers.UpdateWorker(ctx, &gatewayv1.UpdateWorkerRequest{
		WorkspaceSid: ws, Sid: alice.Sid, Attributes: attrs(tag, 5)}); err != nil {
		t.Fatal(err)
	}
	request.StartPosition = &gatewayv1.StreamEventsRequest_AfterCursor{AfterCursor: first.Cursor}
	resumeCtx, stopResumed := context.WithCancel(ctx)
	defer stopResumed()
	resumed, err := events.StreamEvents(resumeCtx, request)
	if err != nil {
		t.Fatal(err)
	}
	var got []*gatewayv1.StreamedEvent
	for len(got) < 2 {
		message, err := resumed.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, message.Events...)
	}
	if level(t, got[0]) != 4 || level(t, got[1]) != 5 {
		t.Fatalf("resumed levels: %v, %v", level(t, got[0]), level(t, got[1]))
	}
	for _, e := range got {
		if e.Cursor == first.Cursor {
			t.Fatalf("resumed stream repeated the cursor it resumed after")
		}
	}
}
