package graphtest

import (
	"context"
	"sync"
	"time"
)

// linkChunk is the most bytes moved between two link reservations, so that
// connections sharing the link interleave finely.
const linkChunk = 64 << 10

// linkBurst is how far the link's schedule may lag behind the clock and
// still be kept: a sleeper that overslept its booking by less than this does
// not push the schedule back (timers are coarse). A schedule further behind
// means the link was idle, and idle time is not credited.
const linkBurst = 20 * time.Millisecond

// link simulates a network link: one schedule shared by every connection and
// both directions (a reservation-based token bucket: each transfer books its
// airtime on the shared timeline, then sleeps until its booking ends), and a
// latency added once per request.
type link struct {
	mu      sync.Mutex
	rate    int64 // bytes per second; 0 = unlimited
	latency time.Duration
	next    time.Time // when the link is free again
}

func (l *link) set(rate int64, latency time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rate < 0 {
		rate = 0
	}
	l.rate, l.latency = rate, latency
}

// active reports whether bandwidth is limited.
func (l *link) active() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate > 0
}

// delay waits the link's latency (once per request).
func (l *link) delay(ctx context.Context) error {
	l.mu.Lock()
	d := l.latency
	l.mu.Unlock()
	return sleepCtx(ctx, d)
}

// take books n bytes of airtime and waits until they have passed.
func (l *link) take(ctx context.Context, n int) error {
	l.mu.Lock()
	if l.rate <= 0 || n <= 0 {
		l.mu.Unlock()
		return nil
	}
	now := time.Now()
	start := l.next
	if start.Before(now.Add(-linkBurst)) {
		start = now // the link was idle: no credit for it
	}
	l.next = start.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	wake := l.next
	l.mu.Unlock()
	return sleepCtx(ctx, time.Until(wake))
}

// sleepCtx sleeps for d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
