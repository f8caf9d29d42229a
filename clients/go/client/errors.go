package client

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// ErrorDetails are the google.rpc details of a gateway error: one ErrorInfo (domain taskrouter.twilio.com,
// Twilio's code in Metadata["twilio_code"]), a BadRequest naming each bad field, a RetryInfo to wait.
type ErrorDetails struct {
	ErrorInfo  *errdetails.ErrorInfo
	BadRequest *errdetails.BadRequest
	// RetryDelay is zero when the gateway sent no RetryInfo.
	RetryDelay time.Duration
}

// Details decodes err's status details; all fields are nil/zero for an error that carries none.
func Details(err error) ErrorDetails {
	var out ErrorDetails
	st, ok := status.FromError(err)
	if !ok {
		return out
	}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			if out.ErrorInfo == nil {
				out.ErrorInfo = d
			}
		case *errdetails.BadRequest:
			if out.BadRequest == nil {
				out.BadRequest = d
			}
		case *errdetails.RetryInfo:
			if d.GetRetryDelay() != nil {
				out.RetryDelay = d.GetRetryDelay().AsDuration()
			}
		}
	}
	return out
}
