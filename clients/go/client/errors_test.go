package client_test

import (
	"testing"
	"time"

	"github.com/golang/protobuf/ptypes"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"taskrouter.example/gateway/client"
)

func TestDetailsDecodesErrorInfoBadRequestAndRetryInfo(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(
		&errdetails.ErrorInfo{Reason: "TWILIO_RATE_LIMITED", Metadata: map[string]string{"twilio_code": "20429"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "friendly_name"}}},
		&errdetails.RetryInfo{RetryDelay: ptypes.DurationProto(1500 * time.Millisecond)},
	)
	if err != nil {
		t.Fatal(err)
	}
	d := client.Details(st.Err())
	if d.ErrorInfo.GetMetadata()["twilio_code"] != "20429" || d.BadRequest.FieldViolations[0].Field != "friendly_name" {
		t.Fatalf("details: %+v", d)
	}
	if d.RetryDelay != 1500*time.Millisecond {
		t.Fatalf("retry delay: %v", d.RetryDelay)
	}
	if empty := client.Details(status.Error(codes.Internal, "plain")); empty.ErrorInfo != nil || empty.RetryDelay != 0 {
		t.Fatalf("plain status: %+v", empty)
	}
}
