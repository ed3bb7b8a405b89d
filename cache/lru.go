package cache

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The LRU index lives in memory: c.entries and c.lru hold every complete
// entry, most recently read first. It is rebuilt on Open from the entry
// records; reads only update memory, and changed read times are written back
// lazily (every accessFlushInterval and on Close).

// load rebuilds the index from the database and removes what a crash or an
// interrupted fill left behind: chunks without a complete entry, and entries
// whose chunks are not all there.
func (c *Cache) load() error {
	recs := make(map[string]entryRecord)
	counts := make(map[string]int)
	var garbage [][]byte         // keys to delete
	orphans := map[string]bool{} // ids whose chunks all go
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixEntry})
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id := string(item.Key()[len(prefixEntry):])
			var rec entryRecord
			err := item.Value(func(v []byte) error {
				var err error
				rec, err = unmarshalEntry(v)
				return err
			})
			if err != nil {
				c.log.Warn("cache: dropping an unreadable content entry", "err", err)
				garbage = append(garbage, item.KeyCopy(nil))
				continue
			}
			recs[id] = rec
		}
		it.Close()

		it = txn.NewIterator(badger.IteratorOptions{Prefix: prefixChunk})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			id, index, err := parseChunkKey(k)
			rec, ok := recs[id]
			switch {
			case err == nil && !ok:
				orphans[id] = true
				continue
			case err != nil || index >= rec.chunks():
				garbage = append(garbage, bytes.Clone(k))
				continue
			}
			counts[id]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	live := make([]*entry, 0, len(recs))
	for id, rec := range recs {
		if counts[id] != rec.chunks() {
			c.log.Warn("cache: dropping a content entry with missing chunks", "chunks", counts[id], "want", rec.chunks())
			garbage = append(garbage, entryKey(id))
			orphans[id] = true
			continue
		}
		live = append(live, &entry{id: id, rec: rec})
	}
	if len(garbage) > 0 || len(orphans) > 0 {
		if err := c.deleteKeys(garbage); err != nil {
			return fmt.Errorf("remove leftovers: %w", err)
		}
		if err := c.dropChunks(slices.Collect(maps.Keys(orphans))...); err != nil {
			return fmt.Errorf("remove leftovers: %w", err)
		}
		c.log.Info("cache: removed leftovers of interrupted fills", "entries", len(orphans), "keys", len(garbage))
	}
	sort.Slice(live, func(i, j int) bool { return live[i].rec.Access > live[j].rec.Access })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range live {
		c.entries[e.id] = c.lru.PushBack(e)
		c.used += e.rec.Size
	}
	return nil
}

// touch records a read of id's content; it returns the entry's record and
// whether the content is cached.
func (c *Cache) touch(id string) (entryRecord, bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return entryRecord{}, false
	}
	e := el.Value.(*entry)
	e.rec.Access = now
	c.lru.MoveToFront(el)
	c.dirty[id] = struct{}{}
	return e.rec, true
}

// evict removes least recently read entries until the content fits in
// MaxBytes (fills in flight count, but are never evicted). It reports whether
// anything was removed.
func (c *Cache) evict() bool {
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	var victims []*entry
	c.mu.Lock()
	for c.used > c.maxBytes && c.lru.Len() > 0 {
		e := c.lru.Remove(c.lru.Back()).(*entry)
		delete(c.entries, e.id)
		delete(c.dirty, e.id)
		c.used -= e.rec.Size
		victims = append(victims, e)
	}
	c.mu.Unlock()
	ids := make([]string, len(victims))
	for i, e := range victims {
		ids[i] = e.id
	}
	if err := c.dropContent(ids...); err != nil {
		// Open removes what is left of them next time.
		c.log.Warn("cache: could not remove evicted content", "err", err)
	}
	if len(victims) > 0 {
		c.log.Debug("cache: evicted least recently read content", "entries", len(victims))
	}
	return len(victims) > 0
}

// flushAccess writes changed read times back to the entry records.
func (c *Cache) flushAccess() error {
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	c.mu.Lock()
	recs := make(map[string][]byte, len(c.dirty))
	for id := range c.dirty {
		if el, ok := c.entries[id]; ok {
			recs[string(entryKey(id))] = el.Value.(*entry).rec.marshal()
		}
	}
	clear(c.dirty)
	c.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if err := c.setKeys(recs); err != nil {
		// Keep them dirty: the next flush tries again.
		c.mu.Lock()
		for k := range recs {
			c.dirty[k[len(prefixEntry):]] = struct{}{}
		}
		c.mu.Unlock()
		return fmt.Errorf("write back read times: %w", err)
	}
	return nil
}

// errorsIsGCDone reports whether a RunValueLogGC error only means there was
// nothing (more) to do.
func errorsIsGCDone(err error) bool {
	return errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected)
}
