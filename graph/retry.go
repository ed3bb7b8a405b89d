package graph

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// retryPolicy bounds the attempts at one request and says how long to wait
// between them.
type retryPolicy struct {
	maxAttempts int
	maxTime     time.Duration
	// Exponential backoff with full jitter: attempt n (1-based) waits a random
	// duration in [0, min(maxBackoff, baseBackoff * 2^(n-1))).
	baseBackoff time.Duration
	maxBackoff  time.Duration
}

func defaultRetryPolicy(attempts int, maxTime time.Duration) retryPolicy {
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	if maxTime <= 0 {
		maxTime = DefaultMaxRetryTime
	}
	return retryPolicy{maxAttempts: attempts, maxTime: maxTime, baseBackoff: 500 * time.Millisecond, maxBackoff: 30 * time.Second}
}

// backoff is the full-jitter wait before retry number n (n >= 1).
func (p retryPolicy) backoff(n int) time.Duration {
	ceil := p.baseBackoff
	for i := 1; i < n && ceil < p.maxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.maxBackoff)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// retrier tracks the attempts at one request against its policy.
type retrier struct {
	p        retryPolicy
	start    time.Time
	attempts int // attempts made so far
}

func (c *Client) newRetrier() *retrier {
	return &retrier{p: c.retry, start: time.Now()}
}

// errRetryBudget says why a retrier gave up: the caller returns the last error.
var errRetryBudget = errors.New("retry budget exhausted")

// wait sleeps before the next attempt: retryAfter when the server sent one
// (hasRetryAfter), else the backoff. It returns errRetryBudget without sleeping
// when no attempt is left or the wait would end past MaxRetryTime, and the
// context's error if it ends first. No request slot is held while waiting.
func (r *retrier) wait(ctx context.Context, retryAfter time.Duration, hasRetryAfter bool) error {
	if r.attempts >= r.p.maxAttempts {
		return errRetryBudget
	}
	d := retryAfter
	if !hasRetryAfter {
		d = r.p.backoff(r.attempts)
	}
	if time.Since(r.start)+d > r.p.maxTime {
		return errRetryBudget
	}
	return sleep(ctx, d)
}

// attempt counts one attempt; it returns false when none was left.
func (r *retrier) attempt() bool {
	if r.attempts >= r.p.maxAttempts {
		return false
	}
	r.attempts++
	return true
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryableStatus: statuses that mean "not now". 429 and 503 are refusals (the
// request was not carried out); 504 is ambiguous, the work may have been done.
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable ||
		status == http.StatusGatewayTimeout
}

// refusedStatus: the server says it did not carry out the request, so even a
// non-idempotent request can be sent again.
func refusedStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// notSent reports whether a transport error certainly happened before the
// request reached the server (the connection could not even be made), so that a
// non-idempotent request may be sent again.
func notSent(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
