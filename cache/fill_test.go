package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// waitWaiters blocks until n Fills wait on id's flight.
func waitWaiters(t *testing.T, c *Cache, id string, n int32) {
	t.Helper()
	for {
		c.mu.Lock()
		f := c.flights[id]
		c.mu.Unlock()
		if f != nil && f.waiters.Load() == n {
			return
		}
		if t.Context().Err() != nil {
			t.Fatal("test ended before the waiters arrived")
		}
		runtime.Gosched()
	}
}

func TestFillSingleflight(t *testing.T) {
	const waiters = 4
	opts := testOptions(t)
	opts.chunkSize = 1000
	c := openT(t, opts)
	data := content(1, 5500)
	leader := newGatedReader(data)

	type result struct {
		n   int64
		err error
	}
	leaderDone := make(chan result, 1)
	go func() {
		n, err := c.Fill(t.Context(), "att", leader)
		leaderDone <- result{n, err}
	}()
	<-leader.started

	others := make([]*countingReader, waiters)
	results := make([]result, waiters)
	var wg sync.WaitGroup
	for i := range others {
		others[i] = &countingReader{r: bytes.NewReader(content(99, 10))}
		wg.Go(func() {
			n, err := c.Fill(t.Context(), "att", others[i])
			results[i] = result{n, err}
		})
	}
	waitWaiters(t, c, "att", waiters)
	close(leader.release)
	wg.Wait()

	if r := <-leaderDone; r.err != nil || r.n != int64(len(data)) {
		t.Fatalf("leader Fill = %d, %v", r.n, r.err)
	}
	for i, r := range results {
		if r.err != nil || r.n != int64(len(data)) {
			t.Errorf("waiter %d: Fill = %d, %v; want %d, nil", i, r.n, r.err, len(data))
		}
		if reads := others[i].reads.Load(); reads != 0 {
			t.Errorf("waiter %d read its stream %d times, want 0", i, reads)
		}
	}
	if !bytes.Equal(readAll(t, c, "att"), data) {
		t.Fatal("cached content differs from the leader's stream")
	}
	// Filling cached content reads nothing.
	again := &countingReader{r: bytes.NewReader(nil)}
	if n, err := c.Fill(t.Context(), "att", again); err != nil || n != int64(len(data)) || again.reads.Load() != 0 {
		t.Fatalf("Fill of cached content = %d, %v after %d reads", n, err, again.reads.Load())
	}
}

// TestFillWaiterTakesOver: when the first Fill fails, a waiting one stores
// its own stream.
func TestFillWaiterTakesOver(t *testing.T) {
	opts := testOptions(t)
	opts.chunkSize = 100
	c := openT(t, opts)
	leader := newGatedReader(content(1, 1000))
	leader.failAfter, leader.err = 350, errors.New("connection reset")
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Fill(t.Context(), "att", leader)
		leaderErr <- err
	}()
	<-leader.started

	want := content(2, 1000)
	waiterDone := make(chan error, 1)
	go func() {
		n, err := c.Fill(t.Context(), "att", bytes.NewReader(want))
		if err == nil && n != int64(len(want)) {
			err = errors.New("wrong length")
		}
		waiterDone <- err
	}()
	waitWaiters(t, c, "att", 1)
	close(leader.release)
	if err := <-leaderErr; err == nil || !errors.Is(err, leader.err) {
		t.Fatalf("leader err = %v, want the stream's error", err)
	}
	if err := <-waiterDone; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if !bytes.Equal(readAll(t, c, "att"), want) {
		t.Fatal("cached content is not the waiter's stream")
	}
}

func TestFillWaiterContextCanceled(t *testing.T) {
	c := openT(t, testOptions(t))
	leader := newGatedReader(content(1, 10))
	leaderDone := make(chan error, 1)
	go func() {
		_, err := c.Fill(t.Context(), "att", leader)
		leaderDone <- err
	}()
	<-leader.started
	ctx, cancel := context.WithCancel(t.Context())
	waiterErr := make(chan error, 1)
	go func() {
		_, err := c.Fill(ctx, "att", bytes.NewReader(nil))
		waiterErr <- err
	}()
	waitWaiters(t, c, "att", 1)
	cancel()
	if err := <-waiterErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter err = %v, want context.Canceled", err)
	}
	close(leader.release)
	if err := <-leaderDone; err != nil {
		t.Fatalf("leader: %v", err)
	}
}

// TestFailedFillLeavesNothing: a failed Fill leaves no entry, size, chunks
// or accounted bytes, also after a reopen.
func TestFailedFillLeavesNothing(t *testing.T) {
	streamErr := errors.New("stream broke")
	tests := []struct {
		name    string
		reader  func(cancel context.CancelFunc) io.Reader
		wantErr error
	}{
		{
			name: "stream error after some chunks",
			reader: func(context.CancelFunc) io.Reader {
				return &failingReader{r: bytes.NewReader(content(1, 2500)), err: streamErr}
			},
			wantErr: streamErr,
		},
		{
			name: "stream error on the first read",
			reader: func(context.CancelFunc) io.Reader {
				return &failingReader{r: bytes.NewReader(nil), err: streamErr}
			},
			wantErr: streamErr,
		},
		{
			name: "context canceled mid-stream",
			reader: func(cancel context.CancelFunc) io.Reader {
				return io.MultiReader(bytes.NewReader(content(1, 1500)), readFunc(func([]byte) (int, error) {
					cancel()
					return 0, io.EOF
				}), bytes.NewReader(content(2, 1500)))
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.chunkSize = 1000
			c, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			fillT(t, c, "other", content(9, 1234))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			n, err := c.Fill(ctx, "att", tt.reader(cancel))
			if !errors.Is(err, tt.wantErr) || n != 0 {
				t.Fatalf("Fill = %d, %v; want 0, %v", n, err, tt.wantErr)
			}
			checkNothing := func(c *Cache) {
				t.Helper()
				if c.Has("att") {
					t.Error("Has after a failed Fill")
				}
				if _, ok := c.Size("att"); ok {
					t.Error("Size known after a failed Fill")
				}
				if _, err := c.ReadAt("att", make([]byte, 1), 0); !errors.Is(err, ErrNotCached) {
					t.Errorf("ReadAt after a failed Fill: %v", err)
				}
				if keys := storedKeys(t, c, chunkPrefix("att")); len(keys) != 0 {
					t.Errorf("%d chunks left", len(keys))
				}
				if got := used(c); got != 1234 {
					t.Errorf("used = %d, want 1234", got)
				}
			}
			checkNothing(c)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = openT(t, opts)
			checkNothing(c)
			if !bytes.Equal(readAll(t, c, "other"), content(9, 1234)) {
				t.Error("the other entry changed")
			}
		})
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// TestForgetDuringFill: Forget stops a fill in progress and leaves nothing.
func TestForgetDuringFill(t *testing.T) {
	opts := testOptions(t)
	opts.chunkSize = 100
	c := openT(t, opts)
	r := newGatedReader(content(1, 1000))
	fillErr := make(chan error, 1)
	go func() {
		_, err := c.Fill(t.Context(), "att", r)
		fillErr <- err
	}()
	<-r.started
	forgot := make(chan error, 1)
	go func() { forgot <- c.Forget("att") }()
	for {
		c.mu.Lock()
		f := c.flights["att"]
		c.mu.Unlock()
		if f == nil || f.forget.Load() {
			break
		}
		runtime.Gosched()
	}
	close(r.release)
	if err := <-fillErr; !errors.Is(err, errForgotten) || !errors.Is(err, ErrNotCached) {
		t.Fatalf("Fill err = %v, want errForgotten", err)
	}
	if err := <-forgot; err != nil {
		t.Fatal(err)
	}
	if c.Has("att") || len(storedKeys(t, c, chunkPrefix("att"))) != 0 || used(c) != 0 {
		t.Fatal("something of the forgotten fill remains")
	}
}

// TestOpenRemovesLeftovers: chunks of a fill interrupted by a crash, and an
// entry whose chunks are missing, are removed on Open.
func TestOpenRemovesLeftovers(t *testing.T) {
	opts := testOptions(t)
	opts.chunkSize = 100
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	fillT(t, c, "good", content(1, 250))
	fillT(t, c, "damaged", content(2, 250))
	err = c.db.Update(func(txn *badger.Txn) error {
		// A crash mid-fill: chunks, no entry record.
		for i := range 3 {
			if err := txn.Set(chunkKey("partial", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		// A chunk lost from a complete entry.
		return txn.Delete(chunkKey("damaged", 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openT(t, opts)
	if keys := storedKeys(t, c, prefixChunk); len(keys) != 3 {
		t.Errorf("%d chunks after reopen, want the 3 of the good entry", len(keys))
	}
	if c.Has("damaged") || c.Has("partial") || !c.Has("good") {
		t.Errorf("Has: damaged %v, partial %v, good %v", c.Has("damaged"), c.Has("partial"), c.Has("good"))
	}
	if got := used(c); got != 250 {
		t.Errorf("used = %d, want 250", got)
	}
	if !bytes.Equal(readAll(t, c, "good"), content(1, 250)) {
		t.Error("good entry damaged")
	}
}

// TestIDsAreNotPaths: ids that look like paths stay keys.
func TestIDsAreNotPaths(t *testing.T) {
	opts := testOptions(t)
	c := openT(t, opts)
	for i, id := range []string{"../../escape", "/etc/passwd", "a/b\x00c", "AAMkAD=="} {
		fillT(t, c, id, content(uint64(i), 50))
		if !bytes.Equal(readAll(t, c, id), content(uint64(i), 50)) {
			t.Errorf("%q: wrong content", id)
		}
	}
}

// TestCloseDuringFill: the cache is closed while fills it does not wait for are still at work (a
// download a reader left running, one that failed and is removing what it stored): Close
// returns, a fill still reading then fails with ErrClosed instead of touching the closed
// database (go test -race saw the removal race with Close), and a later Open finds nothing
// half-stored.
func TestCloseDuringFill(t *testing.T) {
	opts := testOptions(t)
	opts.chunkSize = 64 << 10
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	// A fill that fails after three chunks and removes them, in a goroutine nobody waits for.
	go c.Fill(context.Background(), "cut", &failingReader{r: bytes.NewReader(content(3, 3*64<<10+10)), err: errors.New("connection reset")})
	// A fill that is still reading when Close comes.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := c.Fill(context.Background(), "slow", pr)
		done <- err
	}()
	if _, err := pw.Write(content(1, 3*64<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	go pw.Write(content(2, 64<<10)) // the fill goes on reading, then must not touch the database
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Fill after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fill did not return after Close")
	}
	pw.Close()
	c2 := openT(t, opts)
	if c2.Has("slow") || c2.Has("cut") {
		t.Fatal("a fill cut by Close left a complete-looking entry")
	}
}
