package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestReadAtEveryOffset reads every (offset, length) pair of contents around
// chunk boundaries and checks bytes and io.ReaderAt's EOF rule.
func TestReadAtEveryOffset(t *testing.T) {
	const chunk = 16
	opts := testOptions(t)
	opts.chunkSize = chunk
	c := openT(t, opts)
	for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 5} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) {
			id := fmt.Sprintf("att-%d", size)
			data := content(uint64(size), size)
			fillT(t, c, id, data)
			if !c.Has(id) {
				t.Fatal("Has = false after Fill")
			}
			if n, ok := c.Size(id); !ok || n != int64(size) {
				t.Fatalf("Size = %d, %v", n, ok)
			}
			for off := 0; off <= size+2; off++ {
				for length := 0; length <= size+2; length++ {
					p := bytes.Repeat([]byte{0xAA}, length)
					n, err := c.ReadAt(id, p, int64(off))
					wantN := max(0, min(length, size-off))
					if n != wantN {
						t.Fatalf("ReadAt(len %d, off %d) = %d bytes, want %d", length, off, n, wantN)
					}
					if n > 0 && !bytes.Equal(p[:n], data[off:off+n]) {
						t.Fatalf("ReadAt(len %d, off %d): wrong bytes", length, off)
					}
					switch {
					case off >= size && !errors.Is(err, io.EOF):
						t.Fatalf("ReadAt(len %d, off %d) at/after the end: err %v, want io.EOF", length, off, err)
					case n < length && !errors.Is(err, io.EOF):
						t.Fatalf("ReadAt(len %d, off %d) short: err %v, want io.EOF", length, off, err)
					case n == length && off < size && err != nil:
						t.Fatalf("ReadAt(len %d, off %d) full: err %v, want nil", length, off, err)
					}
				}
			}
		})
	}
}

// TestReadAtDefaultChunks crosses the real 1 MiB chunk boundaries.
func TestReadAtDefaultChunks(t *testing.T) {
	c := openT(t, testOptions(t))
	const size = 2*defaultChunkSize + 12345
	data := content(7, size)
	fillT(t, c, "big", data)
	tests := []struct {
		name     string
		off, len int
		wantN    int
		wantEOF  bool
	}{
		{"first bytes", 0, 10, 10, false},
		{"across first boundary", defaultChunkSize - 100, 200, 200, false},
		{"whole second chunk", defaultChunkSize, defaultChunkSize, defaultChunkSize, false},
		{"across two boundaries", defaultChunkSize - 1, defaultChunkSize + 2, defaultChunkSize + 2, false},
		{"cp-sized read at the end", size - 1000, 128 << 10, 1000, true},
		{"whole file exactly", 0, size, size, false},
		{"past the end", size + 1, 10, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.len)
			n, err := c.ReadAt("big", p, int64(tt.off))
			if n != tt.wantN || errors.Is(err, io.EOF) != tt.wantEOF || (!tt.wantEOF && err != nil) {
				t.Fatalf("ReadAt = %d, %v; want %d, EOF %v", n, err, tt.wantN, tt.wantEOF)
			}
			if n > 0 && !bytes.Equal(p[:n], data[tt.off:tt.off+n]) {
				t.Fatal("wrong bytes")
			}
		})
	}
}

func TestReadAtErrors(t *testing.T) {
	c := openT(t, testOptions(t))
	fillT(t, c, "a", []byte("hello"))
	if _, err := c.ReadAt("missing", make([]byte, 4), 0); !errors.Is(err, ErrNotCached) {
		t.Errorf("ReadAt(missing) err = %v, want ErrNotCached", err)
	}
	if _, err := c.ReadAt("a", make([]byte, 4), -1); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("ReadAt(negative offset) err = %v, want an error", err)
	}
}

func TestSize(t *testing.T) {
	c := openT(t, testOptions(t))
	if n, ok := c.Size("x"); ok {
		t.Fatalf("Size(unknown) = %d, true", n)
	}
	if err := c.SetSize("x", 12345); err != nil {
		t.Fatal(err)
	}
	if n, ok := c.Size("x"); !ok || n != 12345 {
		t.Fatalf("Size after SetSize = %d, %v", n, ok)
	}
	if c.Has("x") {
		t.Fatal("Has = true with only a size known")
	}
	if _, err := c.ReadAt("x", make([]byte, 1), 0); !errors.Is(err, ErrNotCached) {
		t.Fatalf("ReadAt with only a size known: %v, want ErrNotCached", err)
	}
	if err := c.SetSize("x", -1); err == nil {
		t.Fatal("SetSize(-1) succeeded")
	}
	fillT(t, c, "y", make([]byte, 777))
	if n, ok := c.Size("y"); !ok || n != 777 {
		t.Fatalf("Size after Fill = %d, %v", n, ok)
	}
}

func TestForget(t *testing.T) {
	opts := testOptions(t)
	opts.chunkSize = 64
	c := openT(t, opts)
	fillT(t, c, "gone", content(1, 1000))
	fillT(t, c, "kept", content(2, 1000))
	if err := c.Forget("gone"); err != nil {
		t.Fatal(err)
	}
	if c.Has("gone") {
		t.Error("Has after Forget")
	}
	if _, ok := c.Size("gone"); ok {
		t.Error("Size known after Forget")
	}
	if _, err := c.ReadAt("gone", make([]byte, 1), 0); !errors.Is(err, ErrNotCached) {
		t.Errorf("ReadAt after Forget: %v", err)
	}
	if keys := storedKeys(t, c, chunkPrefix("gone")); len(keys) != 0 {
		t.Errorf("%d chunks left after Forget", len(keys))
	}
	if got := used(c); got != 1000 {
		t.Errorf("used = %d, want 1000", got)
	}
	if !bytes.Equal(readAll(t, c, "kept"), content(2, 1000)) {
		t.Error("the other entry changed")
	}
	if err := c.Forget("never-seen"); err != nil {
		t.Errorf("Forget(unknown): %v", err)
	}
	// Forgotten content can be stored again.
	fillT(t, c, "gone", content(3, 10))
	if !bytes.Equal(readAll(t, c, "gone"), content(3, 10)) {
		t.Error("refill after Forget reads wrong bytes")
	}
}
