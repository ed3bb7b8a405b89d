package graphtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Link tests assert lower bounds only: a limited link can never be faster
// than its rate, whatever the machine's load.

func TestLinkBandwidthUpload(t *testing.T) {
	const rate = 8 << 20 // 8 MiB/s
	s, _, c, _, u, data := newUploadFixture(t, Options{Bandwidth: rate}, 4<<20)
	start := time.Now()
	if r := c.put(u, data, 0, 2<<20-1); r.status != 200 {
		t.Fatalf("PUT: %d", r.status)
	}
	if d := time.Since(start); d < 200*time.Millisecond { // 2 MiB at 8 MiB/s: 250 ms
		t.Fatalf("2 MiB took %v at 8 MiB/s", d)
	}
	// Two uploads at once share the one link.
	s.Emulator.SetLink(rate, 0)
	m2 := s.Emulator.AddMailbox("b@outlookfs.test")
	d2 := m2.AddDraft("d")
	c2 := newRaw(t, s, m2.Token())
	u2 := c2.createSession("/me/messages/"+d2, "b", 4<<20)
	start = time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.put(u, data, 2<<20, 4<<20-1) }()
	go func() { defer wg.Done(); c2.put(u2, data, 0, 2<<20-1) }()
	wg.Wait()
	if d := time.Since(start); d < 400*time.Millisecond { // 4 MiB at 8 MiB/s: 500 ms
		t.Fatalf("two concurrent 2 MiB uploads took %v: the link is not shared", d)
	}
}

func TestLinkBandwidthDownloadAndLatency(t *testing.T) {
	s := StartT(t, Options{Bandwidth: 4 << 20, Latency: 100 * time.Millisecond})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	aid := m.AddFileAttachment(draft, "f", "application/octet-stream", pattern(1<<20))
	c := newRaw(t, s, m.Token())
	start := time.Now()
	c.valueOf("/me/messages/"+draft, aid)
	if d := time.Since(start); d < 300*time.Millisecond { // 100 ms + 1 MiB at 4 MiB/s
		t.Fatalf("download took %v", d)
	}
	start = time.Now()
	c.do("GET", "/me/messages/"+draft+"?$select=subject", nil, nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("a small request took %v with 100 ms latency", d)
	}
	s.Emulator.SetLink(0, 0)
	c.valueOf("/me/messages/"+draft, aid) // unlimited again (not timed)
}

func TestLinkTake(t *testing.T) {
	var l link
	l.set(1<<20, 0)
	ctx := context.Background()
	start := time.Now()
	for range 8 {
		if err := l.take(ctx, 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 512 KiB at 1 MiB/s: 500 ms, less the burst allowance.
	if d := time.Since(start); d < 500*time.Millisecond-linkBurst {
		t.Fatalf("took %v", d)
	}
	// Unlimited: 1000 MiB pass at once. (A link still at 1 MiB/s would need 1000 s; the bound
	// is generous because a loaded machine can stall this goroutine for a while, and it is a
	// deadline, so a link that waits fails in 10 s rather than after its 1000 s.)
	l.set(0, 0)
	uctx, ucancel := context.WithTimeout(ctx, 10*time.Second)
	defer ucancel()
	start = time.Now()
	for i := range 1000 {
		if err := l.take(uctx, 1<<20); err != nil {
			t.Fatalf("an unlimited link waited: take %d after %v: %v", i, time.Since(start), err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l.set(1, 0)
	if err := l.take(cctx, 1<<20); err == nil {
		t.Fatal("take ignored a cancelled context")
	}
}
