package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

var testItem = graph.ItemRef{Kind: graph.KindMessage, ID: "item-1"}

// testLogger logs warnings and errors to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// openT opens a spool in dir (a fresh temporary directory when empty) and
// closes it at the end of the test.
func openT(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.CloseGrace == 0 {
		opts.CloseGrace = 200 * time.Millisecond // fakes that hang until cancelled
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// randBytes returns n pseudo-random bytes from seed.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readAll reads a file through Spool.ReadAt.
func readAll(t testing.TB, s *Spool, id string, size int64) []byte {
	t.Helper()
	got := make([]byte, size)
	n, err := s.ReadAt(id, got, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt(%s): %v", id, err)
	}
	if int64(n) != size {
		t.Fatalf("ReadAt(%s): %d bytes, want %d", id, n, size)
	}
	return got
}

// writeFile creates, writes (in 128 KiB writes, like cp) and commits a file.
func writeFile(t testing.TB, s *Spool, item graph.ItemRef, name string, data []byte) *File {
	t.Helper()
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: item, Name: name, Mode: 0o644})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for off := 0; off < len(data); off += 128 << 10 {
		end := min(len(data), off+128<<10)
		if _, err := f.WriteAt(data[off:end], int64(off)); err != nil {
			t.Fatalf("WriteAt %d: %v", off, err)
		}
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return f
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dirUsage returns the disk space (allocated blocks) used under dir.
func dirUsage(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file deleted while we walk
		}
		if fi, err := de.Info(); err == nil && !de.IsDir() {
			total += allocated(fi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
