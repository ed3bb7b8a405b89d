package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// TestRandomWritesAgainstModel is an fsx-style loop: random writes (small,
// large, overlapping, far past the end), truncates, syncs and reads on one
// file, each checked against an in-memory model; every byte is compared
// periodically, after Commit, and again after the spool is reopened.
func TestRandomWritesAgainstModel(t *testing.T) {
	const maxSize = 2*ChunkSize + ChunkSize/3
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			s, err := Open(ctx, Options{Dir: dir, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "fsx"})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 42))
			var model []byte
			compareAll := func(when string) {
				t.Helper()
				got := make([]byte, len(model)+10)
				n, err := f.ReadAt(got, 0)
				if n != len(model) || (err != nil && !errors.Is(err, io.EOF)) {
					t.Fatalf("%s: ReadAt = %d, %v; model has %d bytes", when, n, err, len(model))
				}
				if i := firstDiff(got[:n], model); i >= 0 {
					t.Fatalf("%s: byte %d differs (got %#x, want %#x)", when, i, got[i], model[i])
				}
			}
			for op := range 200 {
				switch k := rng.IntN(100); {
				case k < 55: // write
					off := rng.Int64N(maxSize)
					n := randLen(rng, maxSize-off)
					p := randBytes(rng.Uint64(), int(n))
					if w, err := f.WriteAt(p, off); err != nil || w != len(p) {
						t.Fatalf("op %d: WriteAt(%d at %d) = %d, %v", op, n, off, w, err)
					}
					if end := off + n; end > int64(len(model)) {
						model = append(model, make([]byte, end-int64(len(model)))...)
					}
					copy(model[off:], p)
				case k < 70: // truncate
					size := rng.Int64N(maxSize)
					if err := f.Truncate(size); err != nil {
						t.Fatalf("op %d: Truncate(%d): %v", op, size, err)
					}
					if size < int64(len(model)) {
						model = model[:size]
					} else {
						model = append(model, make([]byte, size-int64(len(model)))...)
					}
				case k < 75:
					if err := f.Sync(); err != nil {
						t.Fatalf("op %d: Sync: %v", op, err)
					}
				default: // read a random range
					off := rng.Int64N(maxSize)
					p := make([]byte, randLen(rng, maxSize-off))
					n, err := f.ReadAt(p, off)
					want := model[min(off, int64(len(model))):min(off+int64(len(p)), int64(len(model)))]
					if n != len(want) || (n < len(p) && !errors.Is(err, io.EOF)) || (n == len(p) && err != nil) {
						t.Fatalf("op %d: ReadAt(%d at %d) = %d, %v; want %d", op, len(p), off, n, err, len(want))
					}
					if i := firstDiff(p[:n], want); i >= 0 {
						t.Fatalf("op %d: ReadAt(%d at %d): byte %d differs", op, len(p), off, i)
					}
				}
				if f.Size() != int64(len(model)) {
					t.Fatalf("op %d: Size = %d, model %d", op, f.Size(), len(model))
				}
				if op%40 == 39 {
					compareAll(fmt.Sprintf("after op %d", op))
				}
			}
			compareAll("before commit")
			if err := f.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			compareAll("after commit")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, Options{Dir: dir})
			m, ok := s.Get(f.ID())
			if !ok || m.Size != int64(len(model)) || m.State != StateCommitted {
				t.Fatalf("after reopen: %+v %v, model %d bytes", m, ok, len(model))
			}
			got := readAll(t, s, f.ID(), m.Size)
			if i := firstDiff(got, model); i >= 0 {
				t.Fatalf("after reopen: byte %d differs", i)
			}
		})
	}
}

// randLen picks a write/read length up to limit: mostly small, sometimes a
// chunk or more.
func randLen(rng *rand.Rand, limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	var n int64
	switch rng.IntN(4) {
	case 0:
		n = 1 + rng.Int64N(16)
	case 1:
		n = 1 + rng.Int64N(64<<10)
	case 2:
		n = 1 + rng.Int64N(ChunkSize)
	default:
		n = 1 + rng.Int64N(2*ChunkSize)
	}
	return min(n, limit)
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
