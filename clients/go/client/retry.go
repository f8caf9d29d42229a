package client

// The shipped retry policy (gatewayv1.ServiceConfigJSON, a gRPC service config generated from the protos'
// idempotency_level) applied by a unary interceptor, so it works on every grpc-go release: before v1.40
// (Debian bookworm ships v1.33) grpc-go applies a service config's retryPolicy only with GRPC_GO_RETRY=on.
// As in gRPC's retry design and the TypeScript client: only listed methods, only the listed codes,
// exponential backoff with full jitter. Unary calls only: a stream is never re-opened behind the caller's
// back (resume it from its cursor).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type retryPolicy struct {
	maxAttempts    int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	multiplier     float64
	codes          map[codes.Code]bool
}

// jitter draws the fraction of the current backoff to wait (full jitter); export_test.go pins it.
var jitter = rand.Float64

// parseRetryPolicies maps "/service/method" (or "/service/" for a whole service) to its retry policy.
func parseRetryPolicies(serviceConfigJSON string) (map[string]*retryPolicy, error) {
	var config struct {
		MethodConfig []struct {
			Name []struct {
				Service string `json:"service"`
				Method  string `json:"method"`
			} `json:"name"`
			RetryPolicy *struct {
				MaxAttempts          int          `json:"maxAttempts"`
				InitialBackoff       string       `json:"initialBackoff"`
				MaxBackoff           string       `json:"maxBackoff"`
				BackoffMultiplier    float64      `json:"backoffMultiplier"`
				RetryableStatusCodes []codes.Code `json:"retryableStatusCodes"`
			} `json:"retryPolicy"`
		} `json:"methodConfig"`
	}
	if err := json.Unmarshal([]byte(serviceConfigJSON), &config); err != nil {
		return nil, fmt.Errorf("service config: %w", err)
	}
	byMethod := map[string]*retryPolicy{}
	for _, entry := range config.MethodConfig {
		rp := entry.RetryPolicy
		if rp == nil {
			continue
		}
		initial, err := time.ParseDuration(rp.InitialBackoff)
		if err != nil {
			return nil, fmt.Errorf("service config: initialBackoff: %w", err)
		}
		max, err := time.ParseDuration(rp.MaxBackoff)
		if err != nil {
			return nil, fmt.Errorf("service config: maxBackoff: %w", err)
		}
		if rp.MaxAttempts < 2 || initial <= 0 || max <= 0 || rp.BackoffMultiplier <= 0 || len(rp.RetryableStatusCodes) == 0 {
			return nil, fmt.Errorf("service config: invalid retryPolicy %+v", *rp)
		}
		policy := &retryPolicy{maxAttempts: rp.MaxAttempts, initialBackoff: initial, maxBackoff: max,
			multiplier: rp.BackoffMultiplier, codes: map[codes.Code]bool{}}
		for _, c := range rp.RetryableStatusCodes {
			policy.codes[c] = true
		}
		for _, name := range entry.Name {
			byMethod["/"+name.Service+"/"+name.Method] = policy
		}
	}
	return byMethod, nil
}

// RetryInterceptor retries unary calls per the retryPolicy entries of a gRPC service config (JSON). Dial
// installs it with ServiceConfig unless WithoutRetry is given; use it directly on a connection you dial
// yourself (and then leave grpc-go's own retries off, or calls are retried twice).
func RetryInterceptor(serviceConfigJSON string) (grpc.UnaryClientInterceptor, error) {
	byMethod, err := parseRetryPolicies(serviceConfigJSON)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		policy := byMethod[method]
		if policy == nil {
			policy = byMethod[method[:strings.LastIndex(method, "/")+1]]
		}
		if policy == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		backoff := policy.initialBackoff
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil || attempt >= policy.maxAttempts || !policy.codes[status.Code(err)] || ctx.Err() != nil {
				return err
			}
			delay := time.Duration(jitter() * float64(backoff))
			// Never sleep past the caller's deadline: the call would fail there anyway, so give the real error now.
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
				return err
			}
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return status.FromContextError(ctx.Err()).Err()
			}
			if next := float64(backoff) * policy.multiplier; next < float64(policy.maxBackoff) {
				backoff = time.Duration(next)
			} else {
				backoff = policy.maxBackoff
			}
		}
	}, nil
}
