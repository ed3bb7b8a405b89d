package graphtest

import (
	"context"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"
)

// waitInFlight polls until upn has n requests in flight.
func waitInFlight(t *testing.T, e *Emulator, upn string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for e.Stats()[upn].InFlight != n {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want %d", e.Stats()[upn].InFlight, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hold sends requests that an injected delay fault keeps in flight until
// the returned function is called.
func hold(reqs ...func(ctx context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r(ctx)
		}()
	}
	return func() { cancel(); wg.Wait() }
}

func TestConcurrencyLimit(t *testing.T) {
	const upn = "a@outlookfs.test"
	tests := []struct {
		name       string
		opts       Options
		graphHeld  int
		uploadHeld int
		refused    bool
		retryAfter string
	}{
		{"fifth Graph request", Options{}, 4, 0, true, "1"},
		{"upload host requests count for the mailbox", Options{}, 2, 2, true, "1"},
		{"under the limit", Options{}, 3, 0, false, ""},
		{"limit setting and Retry-After setting", Options{MaxConcurrent: 2, RetryAfter: "2.5"}, 2, 0, true, "2.5"},
		{"unlimited", Options{MaxConcurrent: -1}, 6, 0, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := StartT(t, tc.opts)
			e := s.Emulator
			m := e.AddMailbox(upn)
			draft := m.AddDraft("d")
			c := newRaw(t, s, m.Token())
			u := c.createSession("/me/messages/"+draft, "big", 4<<20)
			e.Inject(Fault{Host: "graph", Method: "GET", Path: "/messages/", Delay: time.Minute, Count: tc.graphHeld})
			e.Inject(Fault{Host: "upload", Method: "GET", Delay: time.Minute, Count: tc.uploadHeld})
			var reqs []func(context.Context) error
			for range tc.graphHeld {
				reqs = append(reqs, func(ctx context.Context) error {
					_, err := c.try(ctx, "GET", "/me/messages/"+draft, nil, nil)
					return err
				})
			}
			for range tc.uploadHeld {
				reqs = append(reqs, func(ctx context.Context) error {
					_, err := c.try(ctx, "GET", u, nil, nil)
					return err
				})
			}
			release := hold(reqs...)
			waitInFlight(t, e, upn, tc.graphHeld+tc.uploadHeld)

			// The next request, on either host.
			for _, next := range []func() resp{
				func() resp { return c.do("GET", "/me/messages/"+draft+"/attachments", nil, nil) },
				func() resp { return c.put(u, pattern(4<<20), 0, 1<<20-1) },
			} {
				r := next()
				if !tc.refused {
					if r.status != 200 {
						t.Fatalf("under the limit: %d %s", r.status, r.body)
					}
					continue
				}
				if r.status != 429 || r.code(t) != "ApplicationThrottled" || r.header.Get("Retry-After") != tc.retryAfter {
					t.Fatalf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
				}
				if msg := r.json(t)["error"].(map[string]any)["message"]; msg != "Application is over its MailboxConcurrency limit." {
					t.Fatalf("message %q", msg)
				}
			}
			release()
			waitInFlight(t, e, upn, 0)
			held := tc.graphHeld + tc.uploadHeld
			if tc.refused {
				if got := e.MaxInFlight(upn); got != held+1 {
					t.Errorf("MaxInFlight %d, want %d (the refused arrival counts)", got, held+1)
				}
				if got := e.MaxAdmitted(upn); got != held {
					t.Errorf("MaxAdmitted %d, want %d", got, held)
				}
				if got := e.Throttled(upn); got != 2 {
					t.Errorf("Throttled %d, want 2", got)
				}
			} else if got := e.MaxAdmitted(upn); got != held+1 {
				t.Errorf("MaxAdmitted %d, want %d", got, held+1)
			}
			// Once the load is gone, requests pass again.
			if r := c.do("GET", "/me/messages/"+draft+"/attachments", nil, nil); r.status != 200 {
				t.Fatalf("after: %d", r.status)
			}
			e.Reset()
			if got := e.MaxInFlight(upn); got != 0 {
				t.Fatalf("MaxInFlight after Reset: %d", got)
			}
		})
	}
}

func TestSequentialClientNeverCountsTwice(t *testing.T) {
	// A client that waits for each answer before the next request is never
	// seen with two in flight, even for answers larger than the server's
	// write buffer (the slot is released before the last byte).
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	aid := m.AddFileAttachment(draft, "f", "application/octet-stream", pattern(1<<20))
	c := newRaw(t, s, m.Token())
	for range 30 {
		c.valueOf("/me/messages/"+draft, aid)
		c.do("GET", "/me/messages/"+draft, nil, nil)
	}
	if got := s.Emulator.MaxInFlight("a@outlookfs.test"); got != 1 {
		t.Fatalf("MaxInFlight %d for a sequential client", got)
	}
}

func TestVolumeLimit(t *testing.T) {
	clock := newClock()
	const mib = 1 << 20
	s, _, c, _, u, data := newUploadFixture(t, Options{Now: clock.Now, VolumeLimit: 10 * mib}, 20*mib)
	for off := int64(0); off < 8*mib; off += 4 * mib {
		if r := c.put(u, data, off, off+4*mib-1); r.status != 200 {
			t.Fatalf("PUT %d: %d", off, r.status)
		}
	}
	r := c.put(u, data, 8*mib, 12*mib-1)
	if r.status != 429 || r.code(t) != "ApplicationThrottled" || r.header.Get("Retry-After") != "300" {
		t.Fatalf("over the volume: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	clock.Advance(5*time.Minute + time.Second)
	if r := c.put(u, data, 8*mib, 12*mib-1); r.status != 200 {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
	_ = s
}

// 10,000 requests per 10 minutes per mailbox by default; one more is a 429 whose Retry-After
// says when the oldest request counted leaves the window.
func TestRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		limit int
	}{
		{"default", Options{}, 10_000},
		{"set", Options{RateLimit: 3, RateWindow: time.Minute}, 3},
		{"unlimited", Options{RateLimit: -1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			tc.opts.Now = clock.Now
			s := StartT(t, tc.opts)
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			other := s.Emulator.AddMailbox("b@outlookfs.test")
			c := newRaw(t, s, m.Token())
			n := tc.limit
			if n == 0 {
				n = 10_001
			}
			for i := range n {
				if r := c.do("GET", "/me/mailFolders/drafts/messages?$top=1", nil, nil); r.status != 200 {
					t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
				}
				clock.Advance(time.Millisecond)
			}
			r := c.do("GET", "/me/mailFolders/drafts/messages?$top=1", nil, nil)
			if tc.limit == 0 {
				if r.status != 200 {
					t.Fatalf("unlimited: request %d got %d", n+1, r.status)
				}
				return
			}
			window := 10 * time.Minute
			if tc.opts.RateWindow > 0 {
				window = tc.opts.RateWindow
			}
			wantAfter := strconv.Itoa(int(math.Ceil((window - time.Duration(n)*time.Millisecond).Seconds())))
			if r.status != 429 || r.code(t) != "ApplicationThrottled" || r.header.Get("Retry-After") != wantAfter {
				t.Fatalf("request %d: %d Retry-After %q (want 429, %s) %s", n+1, r.status, r.header.Get("Retry-After"), wantAfter, r.body)
			}
			if r := newRaw(t, s, other.Token()).do("GET", "/me/mailFolders/drafts/messages?$top=1", nil, nil); r.status != 200 {
				t.Fatalf("another mailbox: %d (the limit is per mailbox)", r.status)
			}
			clock.Advance(window)
			if r := c.do("GET", "/me/mailFolders/drafts/messages?$top=1", nil, nil); r.status != 200 {
				t.Fatalf("once the window passed: %d %s", r.status, r.body)
			}
		})
	}
}
