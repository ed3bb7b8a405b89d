package spool

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Chunk storage. A stored chunk may be shorter than chunkLen (a sparse tail):
// missing bytes, and missing chunks, read as zeros. A chunk never holds bytes
// at or past the file's size (Truncate trims them), so growing a file needs no write.

// readChunk copies stored chunk i into dst and returns how many bytes were stored
// (0 for a missing chunk). dst[n:] is left untouched.
func (s *Spool) readChunk(id string, i int64, dst []byte) (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id, i))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			n = copy(dst, v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("spool: read chunk %d: %w", i, err)
	}
	return n, nil
}

// loadChunk fills buf (ChunkSize bytes) with chunk i, zeros where nothing is stored.
func (s *Spool) loadChunk(id string, i int64, buf []byte) error {
	n, err := s.readChunk(id, i, buf)
	if err != nil {
		return err
	}
	clear(buf[n:])
	return nil
}

// readStored reads p at off from the database, for a file of the given size.
func (s *Spool) readStored(id string, size int64, p []byte, off int64) (int, error) {
	if off >= size {
		return 0, nil
	}
	p = p[:min(int64(len(p)), size-off)]
	done := 0
	err := s.db.View(func(txn *badger.Txn) error {
		for done < len(p) {
			pos := off + int64(done)
			i, in := pos/ChunkSize, pos%ChunkSize
			want := p[done:min(len(p), done+int(ChunkSize-in))]
			stored := 0
			item, err := txn.Get(chunkKey(id, i))
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
			case err != nil:
				return err
			default:
				err = item.Value(func(v []byte) error {
					if int64(len(v)) > in {
						stored = copy(want, v[in:])
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			clear(want[stored:])
			done += len(want)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("spool: read: %w", err)
	}
	return done, nil
}

// putChunk stores data as chunk i of e (len(data) <= ChunkSize), together
// with e's record in the same transaction. Besides keeping the recorded size in
// step (a file abandoned by a crash shows what it holds), this puts the record
// key in every memtable - and so every table - holding the chunk: Badger drops a
// table lying wholly inside a DropPrefix prefix without counting its values as
// discarded, and the value-log GC would then never reclaim them.
func (s *Spool) putChunk(e *entry, i int64, data []byte) error {
	s.diskMu.Lock()
	defer s.diskMu.Unlock()
	if err := s.checkDisk(int64(len(data))); err != nil {
		return err
	}
	return s.updateTx(e, -1, nil, func(txn *badger.Txn) error { return txn.Set(chunkKey(e.id, i), data) })
}

// deleteChunks deletes chunks [from, to).
func (s *Spool) deleteChunks(id string, from, to int64) error {
	if from >= to {
		return nil
	}
	return s.write(func(txn *badger.Txn) error {
		for i := from; i < to; i++ {
			if err := txn.Delete(chunkKey(id, i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// write runs fn in a read-write transaction. DropPrefix refuses concurrent
// writes (ErrBlockedWrites), so writes and drops exclude each other here.
func (s *Spool) write(fn func(txn *badger.Txn) error) error {
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	if err := s.db.Update(fn); err != nil {
		return noSpace(fmt.Errorf("spool: write: %w", err))
	}
	return nil
}
