package cache

import (
	"errors"
	"fmt"
	"io"

	badger "github.com/dgraph-io/badger/v4"
)

// Size returns the true byte length of id's content, when known: from the
// cached content, or from SetSize.
func (c *Cache) Size(id string) (int64, bool) {
	c.mu.Lock()
	el, ok := c.entries[id]
	c.mu.Unlock()
	if ok {
		return el.Value.(*entry).rec.Size, true
	}
	var n int64
	err := c.view(func(txn *badger.Txn) error {
		item, err := txn.Get(sizeKey(id))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			n, err = unmarshalSize(v)
			return err
		})
	})
	if err != nil {
		if !errors.Is(err, badger.ErrKeyNotFound) {
			c.log.Warn("cache: could not read a size record", "err", err)
		}
		return 0, false
	}
	return n, true
}

// SetSize remembers the true length of id's content (e.g. after our own
// upload), without its content.
func (c *Cache) SetSize(id string, n int64) error {
	if n < 0 {
		return fmt.Errorf("cache: negative size %d", n)
	}
	if err := c.update(func(txn *badger.Txn) error { return txn.Set(sizeKey(id), marshalSize(n)) }); err != nil {
		return fmt.Errorf("cache: store size: %w", err)
	}
	return nil
}

// Has reports whether id's whole content is cached.
func (c *Cache) Has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

// ReadAt reads cached content of id at off, like io.ReaderAt: it returns
// io.EOF when fewer than len(p) bytes remain, and ErrNotCached when the
// content is not (or no longer) cached. It marks the entry most recently read.
func (c *Cache) ReadAt(id string, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("cache: read at negative offset %d", off)
	}
	rec, ok := c.touch(id)
	if !ok {
		return 0, ErrNotCached
	}
	if off >= rec.Size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), rec.Size-off))
	n := 0
	err := c.view(func(txn *badger.Txn) error {
		for n < want {
			pos := off + int64(n)
			index := int(pos / rec.ChunkSize)
			inChunk := pos % rec.ChunkSize
			item, err := txn.Get(chunkKey(id, index))
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				if int64(len(v)) != min(rec.ChunkSize, rec.Size-int64(index)*rec.ChunkSize) {
					return errBadChunk
				}
				n += copy(p[n:want], v[inChunk:])
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		// Evicted or forgotten since touch.
		return n, ErrNotCached
	case errors.Is(err, errBadChunk):
		c.log.Warn("cache: dropping content with a damaged chunk")
		if ferr := c.Forget(id); ferr != nil {
			c.log.Warn("cache: could not drop damaged content", "err", ferr)
		}
		return n, fmt.Errorf("%w: %w", ErrNotCached, errBadChunk)
	case err != nil:
		return n, fmt.Errorf("cache: read content: %w", err)
	case n < len(p):
		return n, io.EOF
	}
	return n, nil
}

var errBadChunk = errors.New("cached chunk has the wrong length")

// Forget removes everything cached about id: content, size record. A fill of
// id in progress is stopped (at its next chunk) and waited for.
func (c *Cache) Forget(id string) error {
	for {
		c.mu.Lock()
		if f := c.flights[id]; f != nil {
			f.forget.Store(true)
			c.mu.Unlock()
			<-f.done
			continue
		}
		c.mu.Unlock()

		c.persistMu.Lock()
		c.mu.Lock()
		if c.flights[id] != nil {
			// A fill started meanwhile: stop it too.
			c.mu.Unlock()
			c.persistMu.Unlock()
			continue
		}
		chunks := 0
		if el, ok := c.entries[id]; ok {
			e := c.lru.Remove(el).(*entry)
			delete(c.entries, id)
			delete(c.dirty, id)
			c.used -= e.rec.Size
			chunks = e.rec.chunks()
		}
		c.mu.Unlock()
		err := c.deleteKeys([][]byte{entryKey(id), sizeKey(id)})
		if err == nil && chunks > 0 {
			err = c.dropChunks(id)
		}
		c.persistMu.Unlock()
		if err != nil {
			return fmt.Errorf("cache: forget: %w", err)
		}
		if chunks > 0 {
			c.kickGC()
		}
		return nil
	}
}
