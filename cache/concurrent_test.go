package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

// TestConcurrentUse mixes fills, reads, evictions, Forget and metadata from
// several goroutines; reads must return the right bytes or ErrNotCached.
func TestConcurrentUse(t *testing.T) {
	const (
		workers = 4
		ids     = 12
		size    = 3000
		rounds  = 40
	)
	opts := testOptions(t)
	opts.MaxBytes = 5 * size
	opts.chunkSize = 1024
	c := openT(t, opts)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := make([]byte, 700)
			for r := range rounds {
				n := (w*7 + r*5) % ids
				id := fmt.Sprint("att-", n)
				data := content(uint64(n), size)
				switch r % 4 {
				case 0, 1:
					got, err := c.Fill(t.Context(), id, bytes.NewReader(data))
					if errors.Is(err, ErrNotCached) {
						break // forgotten by another worker while being stored
					}
					if err != nil || got != size {
						t.Errorf("Fill(%s) = %d, %v", id, got, err)
						return
					}
				case 2:
					if err := c.Forget(id); err != nil {
						t.Errorf("Forget(%s): %v", id, err)
						return
					}
				case 3:
					if err := c.PutMeta(id, r); err != nil {
						t.Errorf("PutMeta: %v", err)
						return
					}
				}
				off := int64(r*131) % size
				got, err := c.ReadAt(id, p, off)
				switch {
				case errors.Is(err, ErrNotCached):
				case err != nil && !errors.Is(err, io.EOF):
					t.Errorf("ReadAt(%s): %v", id, err)
					return
				case !bytes.Equal(p[:got], data[off:off+int64(got)]):
					t.Errorf("ReadAt(%s, %d): wrong bytes", id, off)
					return
				}
			}
		})
	}
	wg.Wait()
	if u := used(c); u > opts.MaxBytes {
		t.Errorf("used %d > MaxBytes %d with no fill in flight", u, opts.MaxBytes)
	}
	var sum int64
	c.mu.Lock()
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*entry).rec.Size
	}
	c.mu.Unlock()
	if sum != used(c) {
		t.Errorf("used %d, but entries add up to %d", used(c), sum)
	}
}
