package spool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/outlookfs/outlookfs/graph"
)

// Rename moves a file not yet attached to another name (and item), and sets
// whether it is a scratch file. Renaming a closed scratch file to an ordinary
// name commits and queues it; renaming a committed file to a scratch name
// takes it out of the queue. A file whose upload already started is uploaded
// again under its new name. Attached files cannot be renamed: ErrCommitted.
func (s *Spool) Rename(ctx context.Context, id string, item graph.ItemRef, name string, scratch bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if name == "" {
		return errors.New("spool: rename: empty name")
	}
	e, err := s.lookup(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if e.rec.State == StateAttached {
		s.mu.Unlock()
		return ErrCommitted
	}
	moved := e.rec.Item != item || e.rec.Name != name
	restart := moved && (e.running || e.rec.State == StateUploading)
	if restart || (scratch && e.running) {
		e.gen++ // the running upload is stale
		if e.cancel != nil {
			e.cancel()
		}
	}
	s.mu.Unlock()

	var oldSession *session
	var orph *orphan    // what a request under the old name may have made
	var orphData []byte // its record
	s.omu.Lock()        // orph's record is written with the file's
	err = s.updateTx(e, -1, func(r *record) error {
		if r.State == StateUploading && r.Final && moved {
			s.mu.Lock()
			orph = s.newOrphan(e)
			orph.Item, orph.Name, orph.KnownIDs = r.Item, r.Name, slices.Clone(r.KnownIDs)
			data, err := orphanDataLocked(orph)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			orphData = data
			s.registerLocked(orph) // before the new name is anyone's: see noteAttached
			s.mu.Unlock()
		}
		r.Item, r.Name, r.Scratch = item, name, scratch
		if r.State == StateUploading && (moved || scratch) {
			// Start over: the name was sent when the session was created.
			oldSession = r.Session
			r.State, r.Session, r.Confirmed = StateCommitted, nil, 0
			r.clearFinal()
		}
		return nil
	}, func(txn *badger.Txn) error {
		if orph == nil {
			return nil
		}
		return txn.Set(orphanKey(orph.ID), orphData)
	})
	s.omu.Unlock()
	if err != nil {
		if orph != nil {
			s.mu.Lock()
			delete(s.orphans, orph.ID) // the file keeps its name, and its upload goes on
			s.mu.Unlock()
		}
		return fmt.Errorf("spool: rename: %w", err)
	}
	s.mu.Lock()
	s.nameChanges++
	s.mu.Unlock()
	if orph != nil {
		s.adoptOrphan(orph)
	}
	s.cancelSession(item, oldSession)
	s.mu.Lock()
	if e.rec.State == StateCommitted && !e.rec.Scratch {
		s.enqueueLocked(e)
	}
	s.mu.Unlock()
	return nil
}

// Remove forgets a file (unlink): its writer handle stops working, its upload
// is cancelled (with the server's session) and its bytes are dropped.
// Removing an attached file only forgets it; deleting the attachment is the
// caller's business. A file whose creating request was sent but whose outcome is
// unknown becomes an orphan: the spool deletes the attachment it may have made
// once the item can be listed (orphans.go).
func (s *Spool) Remove(ctx context.Context, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.remove(id)
}

// Unlink is Remove for a file unlinked while a descriptor may still be open on it (POSIX: an
// unlinked file lives on for its open descriptors). Its writer handle, if any, keeps working on
// the bytes (through its open data file, unlinked too): reads, writes, Truncate and Sync succeed,
// Commit fails with ErrNotFound (nothing is ever attached) and Abandon lets the bytes go. Those
// bytes no longer count against MaxBytes. It returns the file's Meta as it was when removed: one
// already attached (its upload ended meanwhile) left an attachment, the caller's to delete.
func (s *Spool) Unlink(ctx context.Context, id string) (Meta, error) {
	if err := s.enter(); err != nil {
		return Meta{}, err
	}
	defer s.leave()
	return s.removeFile(id, true)
}

func (s *Spool) remove(id string) error {
	_, err := s.removeFile(id, false)
	return err
}

// removeFile is Remove (keepWriter false) and Unlink (true).
func (s *Spool) removeFile(id string, keepWriter bool) (Meta, error) {
	s.mu.Lock()
	e, ok := s.files[id]
	var w *File
	if ok {
		w = e.writer
	}
	s.mu.Unlock()
	if !ok {
		return Meta{}, ErrNotFound
	}
	if w != nil && !keepWriter {
		w.kill() // waits for an operation in progress on the handle
	}
	e.pmu.Lock() // no record update in progress
	s.mu.Lock()
	m := e.meta()
	e.gen++
	if e.cancel != nil {
		e.cancel()
	}
	if e.retryTimer != nil {
		e.retryTimer.Stop()
	}
	e.writer = nil
	delete(s.files, id)
	wasDropped := e.dropped
	var sess *session
	if e.rec.State == StateUploading && e.rec.Session != nil {
		c := *e.rec.Session
		sess = &c
	}
	item := e.rec.Item
	var orph *orphan
	if !wasDropped && mayHaveAttached(e) && s.opts.Uploader != nil {
		orph = s.newOrphan(e)
		s.registerLocked(orph) // at once: a namesake attached from now on is noted in it
	}
	s.dropDataLocked(e)
	e.dropped = true
	e.notifyLocked()
	s.mu.Unlock()
	e.pmu.Unlock()
	if s.afterDrop != nil {
		s.afterDrop(id)
	}

	switch {
	case orph != nil: // the record goes, and the hunt for what its request may have made begins
		err := s.storeOrphan(orph.ID, func(txn *badger.Txn) error { return txn.Delete(metaKey(id)) })
		if err != nil {
			s.log.Warn("could not record a removed file's possible attachment", "id", id, "err", err)
		}
		s.adoptOrphan(orph)
	case !wasDropped:
		s.deleteRecord(id)
	}
	s.cancelSession(item, sess)
	s.log.Debug("removed", "id", id, "writer kept", w != nil && keepWriter)
	return m, nil
}

// dropDataLocked stops counting e's bytes and has the janitor delete its data
// file (an unlink can take a while for a big file: not under s.mu). Callers hold s.mu.
func (s *Spool) dropDataLocked(e *entry) {
	if e.held {
		s.used -= e.size
		e.held = false
	}
	if e.dataDropped {
		return
	}
	e.dataDropped = true
	s.drops = append(s.drops, e.id)
	s.kickJanitor()
}

// cancelSession cancels an upload session on the server, in the background.
func (s *Spool) cancelSession(item graph.ItemRef, sess *session) {
	if sess == nil || s.opts.Uploader == nil {
		return
	}
	s.background(func(ctx context.Context) {
		err := s.opts.Uploader.CancelUpload(ctx, graph.UploadSession{URL: sess.URL, Expires: sess.Expires})
		if err != nil && !graph.IsNotFound(err) {
			s.log.Debug("could not cancel an upload session (it expires by itself)", "item", item, "err", err)
		}
	})
}

// background runs fn in a goroutine with a bounded context; Close waits for it. It says
// whether fn runs (not once the spool is closing).
func (s *Spool) background(fn func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		defer cancel()
		fn(ctx)
	}()
	return true
}

// enter marks the start of a public operation; Close waits for those in progress.
func (s *Spool) enter() error {
	s.life.RLock()
	if s.shut {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Spool) leave() { s.life.RUnlock() }
