package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// flight is one Fill in progress; concurrent Fills of the same id wait for it.
type flight struct {
	done    chan struct{} // closed when n and err are set
	n       int64
	err     error
	forget  atomic.Bool  // set by Forget: stop at the next chunk
	waiters atomic.Int32 // Fills waiting for this one
}

// errForgotten ends a fill whose id was forgotten while it ran; it is an
// ErrNotCached.
var errForgotten = fmt.Errorf("%w: forgotten while it was being stored", ErrNotCached)

// Fill stores the whole of r as id's content, chunk by chunk (memory bounded
// by one chunk), then marks it complete and records its size; it returns the
// number of bytes stored. Content already cached is not read again.
//
// Concurrent Fills of one id are single-flight: later callers wait for the
// first and return its result without reading their r. Should the first
// fail, the next waiter tries with its own r. On error nothing of the
// partial content stays. A Fill stopped by Forget of its id returns an error
// that is an ErrNotCached.
func (c *Cache) Fill(ctx context.Context, id string, r io.Reader) (int64, error) {
	for {
		c.mu.Lock()
		if el, ok := c.entries[id]; ok {
			c.mu.Unlock()
			return el.Value.(*entry).rec.Size, nil
		}
		if f := c.flights[id]; f != nil {
			f.waiters.Add(1)
			c.mu.Unlock()
			select {
			case <-f.done:
				f.waiters.Add(-1)
			case <-ctx.Done():
				f.waiters.Add(-1)
				return 0, fmt.Errorf("cache: waiting for another fill: %w", ctx.Err())
			}
			if f.err == nil || errors.Is(f.err, errForgotten) {
				return f.n, f.err
			}
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[id] = f
		c.mu.Unlock()

		n, err := c.fill(ctx, id, r, f)

		c.mu.Lock()
		delete(c.flights, id)
		c.mu.Unlock()
		f.n, f.err = n, err
		close(f.done)
		return n, err
	}
}

// fill stores r as id's content for the flight f, which the caller owns.
func (c *Cache) fill(ctx context.Context, id string, r io.Reader, f *flight) (int64, error) {
	// An eviction or Forget of an earlier copy of id may still be deleting
	// its chunks: they hold persistMu while they do.
	c.persistMu.Lock()
	//nolint:staticcheck // an empty critical section is the barrier wanted here
	c.persistMu.Unlock()

	var (
		total   int64
		chunks  int
		evicted bool
		buf     = make([]byte, c.chunkSize)
	)
	fail := func(err error) (int64, error) {
		c.mu.Lock()
		c.used -= total
		c.mu.Unlock()
		var derr error
		if chunks > 0 {
			derr = c.dropChunks(id)
		}
		if derr != nil && !errors.Is(derr, ErrClosed) {
			// Without an entry record it is never read; Open removes it.
			c.log.Warn("cache: could not remove a partial fill", "err", derr)
		}
		if evicted || chunks > 0 {
			c.kickGC()
		}
		return 0, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("cache: fill: %w", err))
		}
		if f.forget.Load() {
			return fail(errForgotten)
		}
		m, rerr := io.ReadFull(r, buf)
		if m > 0 {
			c.mu.Lock()
			c.used += int64(m)
			total += int64(m)
			over := c.used > c.maxBytes
			c.mu.Unlock()
			if over && c.evict() {
				evicted = true
			}
			chunks++ // counted before the write: a failed write may have left it
			err := c.update(func(txn *badger.Txn) error { return txn.Set(chunkKey(id, chunks-1), buf[:m]) })
			if err != nil {
				return fail(fmt.Errorf("cache: store content: %w", err))
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("cache: read content to store: %w", rerr))
		}
	}
	if f.forget.Load() {
		return fail(errForgotten)
	}

	rec := entryRecord{Size: total, ChunkSize: c.chunkSize, Access: time.Now().UnixNano()}
	c.persistMu.Lock()
	err := c.update(func(txn *badger.Txn) error {
		if err := txn.Set(entryKey(id), rec.marshal()); err != nil {
			return err
		}
		return txn.Set(sizeKey(id), marshalSize(total))
	})
	if err != nil {
		c.persistMu.Unlock()
		return fail(fmt.Errorf("cache: mark content complete: %w", err))
	}
	c.mu.Lock()
	c.entries[id] = c.lru.PushFront(&entry{id: id, rec: rec})
	c.mu.Unlock()
	c.persistMu.Unlock()
	if evicted {
		c.kickGC()
	}
	return total, nil
}
