package cache

import (
	badger "github.com/dgraph-io/badger/v4"
)

// Writes and DropPrefix. Badger's DropPrefix blocks writes while it runs
// (a concurrent write would fail with ErrBlockedWrites), so every write
// holds writeMu for reading and DropPrefix holds it exclusively.
//
// Content is removed with DropPrefix rather than plain deletes: chunks live
// in the value log, and deletes alone never make value log files
// reclaimable here (the LSM holds only small keys, so memtables seldom
// flush and no compaction computes discard statistics). DropPrefix flushes
// the memtable and compacts the prefixes away, which records the discarded
// value log space; RunValueLogGC then rewrites or removes those files.

// Close may come while a fill (a download feeding the cache) still runs: every use of the
// database holds writeMu (for reading, or exclusively) and fails with ErrClosed once Close has
// taken it exclusively and closed the database.

// useDB runs fn with the database, holding writeMu for reading; ErrClosed once Close closed it.
func (c *Cache) useDB(fn func(db *badger.DB) error) error {
	c.writeMu.RLock()
	defer c.writeMu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	return fn(c.db)
}

// update runs fn in a read-write transaction.
func (c *Cache) update(fn func(txn *badger.Txn) error) error {
	return c.useDB(func(db *badger.DB) error { return db.Update(fn) })
}

// view runs fn in a read-only transaction.
func (c *Cache) view(fn func(txn *badger.Txn) error) error {
	return c.useDB(func(db *badger.DB) error { return db.View(fn) })
}

// deleteKeys deletes keys in a write batch (any number of them).
func (c *Cache) deleteKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	return c.useDB(func(db *badger.DB) error {
		wb := db.NewWriteBatch()
		defer wb.Cancel()
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return wb.Flush()
	})
}

// setKeys writes key/value pairs in a write batch.
func (c *Cache) setKeys(kvs map[string][]byte) error {
	if len(kvs) == 0 {
		return nil
	}
	return c.useDB(func(db *badger.DB) error {
		wb := db.NewWriteBatch()
		defer wb.Cancel()
		for k, v := range kvs {
			if err := wb.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return wb.Flush()
	})
}

// dropChunks removes every chunk of the given ids.
func (c *Cache) dropChunks(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	prefixes := make([][]byte, len(ids))
	for i, id := range ids {
		prefixes[i] = chunkPrefix(id)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.db.DropPrefix(prefixes...)
}

// dropContent removes content entries: first their records (so an
// interrupted removal never leaves a complete-looking entry), then their
// chunks. Callers hold persistMu, or own the ids' fills.
func (c *Cache) dropContent(ids ...string) error {
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = entryKey(id)
	}
	if err := c.deleteKeys(keys); err != nil {
		return err
	}
	return c.dropChunks(ids...)
}
