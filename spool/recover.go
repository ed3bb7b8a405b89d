package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// recover loads the records a previous process left and decides what happens to each:
//
//	writing            marked Abandoned (never uploaded: its writer never closed it), kept AbandonedTTL
//	committed          queued (scratch files: kept until renamed or expired); but a file whose
//	                   synchronous close had not returned (Awaited) is removed: its writer was
//	                   never told it succeeded (and what its last request may have attached is deleted)
//	uploading          queued; the upload resumes from the session while it lives, and
//	                   checks the item's attachments first if the final request may have landed
//	attached           the attachment it replaces is deleted if that was pending; then forgotten
//	failed             kept for the user to see (its bytes are dropped)
//
// Data files without a record (a crash between creating the data file and its
// record, or a removal interrupted before the data file went) are deleted. A
// file still writing gets the size of its data file (its record is not updated
// on every write).
func (s *Spool) recover(ctx context.Context) error {
	records := map[string]record{}
	data, err := s.dataFiles()
	if err != nil {
		return err
	}
	var bad []string            // unreadable records
	legacy := map[string]bool{} // ids with chunks kept as Badger values (migrate.go)
	err = s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(keyRoot)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id, rest, ok := splitKey(item.Key())
			if !ok {
				continue
			}
			if bytes.HasPrefix(rest, []byte(legacyChunkInfix)) {
				legacy[id] = true
				continue
			}
			if !bytes.Equal(rest, []byte("m")) {
				continue
			}
			var r record
			err := item.Value(func(v []byte) error { return json.Unmarshal(v, &r) })
			if err != nil || r.ID != id {
				s.log.Error("unreadable spool record; dropping the file", "id", id, "err", err)
				bad = append(bad, id)
				continue
			}
			records[id] = r
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: reading the spool: %w", err)
	}
	if err := s.migrateChunks(legacy, records, data); err != nil {
		return err
	}

	now := time.Now()
	var queue []*entry
	var abandoned []*entry
	var finished []string // attached files whose records go
	var lost []*entry     // committed or uploading, but (some of) the bytes are gone
	for id, r := range records {
		e := newEntry(r)
		size := data[id] // 0 without a data file
		switch r.State {
		case StateWriting:
			e.size = min(size, s.opts.MaxFileSize)
			fallthrough
		case StateCommitted, StateUploading:
			e.held = true
			s.used += e.size
		}
		switch r.State {
		case StateWriting:
			if !r.Abandoned {
				abandoned = append(abandoned, e)
			}
		case StateCommitted, StateUploading:
			if r.Awaited && !r.Scratch {
				s.unacked = append(s.unacked, id) // removed once the orphans are loaded (Open)
			} else if size < r.Size { // no data file, or one cut short: zeros would be uploaded for the missing bytes
				lost = append(lost, e)
			} else if !r.Scratch {
				queue = append(queue, e)
			}
		case StateAttached:
			e.held = false
			if r.ReplacePending {
				queue = append(queue, e)
			} else {
				e.dropped = true
				finished = append(finished, id)
			}
			s.dropDataLocked(e)
		case StateFailed:
			s.dropDataLocked(e)
		}
		s.files[id] = e
	}
	for id := range data {
		if _, ok := records[id]; !ok {
			s.drops = append(s.drops, id)
		}
	}
	for _, e := range lost {
		s.log.Error("a spooled file's bytes are missing from the spool directory; it will not be attached",
			"id", e.id, "item", e.rec.Item, "name", e.rec.Name, "size", e.rec.Size, "stored", data[e.id])
		s.fail(e, -1, FailOther, "its spooled bytes were removed from the spool directory (or cut short) before they were uploaded; copy the file again", nil)
	}
	for _, id := range append(finished, bad...) {
		s.deleteRecord(id)
	}
	for _, e := range abandoned {
		err := s.update(e, -1, func(r *record) error {
			r.Abandoned, r.AbandonedAt = true, now
			return nil
		})
		if err != nil {
			return fmt.Errorf("spool: marking an abandoned file: %w", err)
		}
		s.log.Warn("a file was still being written when outlookfs stopped; it will not be attached",
			"id", e.id, "item", e.rec.Item, "size", e.size)
	}
	slices.SortFunc(queue, func(a, b *entry) int { return a.rec.Created.Compare(b.rec.Created) })
	s.mu.Lock()
	for _, e := range queue {
		s.enqueueLocked(e)
	}
	s.mu.Unlock()
	if len(s.drops) > 0 || len(records) > 0 {
		s.kickJanitor()
	}
	s.log.Debug("spool opened", "dir", s.opts.Dir, "files", len(records), "queued", len(queue), "held", s.used)
	return nil
}

// splitKey splits "f/<id>/<rest>" into id and rest.
func splitKey(k []byte) (string, []byte, bool) {
	k, ok := bytes.CutPrefix(k, []byte(keyRoot))
	if !ok {
		return "", nil, false
	}
	id, rest, ok := bytes.Cut(k, []byte("/"))
	if !ok || len(id) == 0 {
		return "", nil, false
	}
	return string(id), rest, true
}
