package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/outlookfs/outlookfs/graph"
)

// Orphans: a file removed (or renamed) after its creating request (the POST of a small file, the
// final PUT of an upload session) failed in a way that leaves the outcome unknown - a 504, a cut
// connection - while the spool could not list the item to tell. A synchronous close gives up on
// such a file with EIO, so its attachment must not stay: the spool keeps the file's name and the
// ids of the attachments that had that name before, looks again until the item can be listed,
// and deletes the attachment if the request made it after all.
//
// Telling which attachment is the orphan's: one named like it, not known before its request, and
// not one of ours. So that a new file with the same name (a script copying again at once) is
// never mistaken for it, the hunt waits while such a file is on its way, remembers the ids that
// such files attach, and gives up on a round when a file was created, renamed or attached while
// it listed.

// orphan is persisted under orphanKey(ID) until it is resolved.
type orphan struct {
	ID       string // its own
	File     string // the id of the file given up (for the log)
	Item     graph.ItemRef
	Name     string
	KnownIDs []string  // attachments with this name that are not the orphan's
	Since    time.Time // when the file was given up
	// Until: a request may still create its attachment this long after it was sent (its body
	// may still be on its way, or the server still at work behind a 504): finding nothing
	// before then is not the end of the hunt (Options.LandingWindow).
	Until time.Time
	// running is the removed file's entry while its request may still be on the wire (in this
	// process only): the hunt waits for it, since that request may still attach, then looks
	// until LandingWindow after it ended.
	running *entry
}

const orphanRoot = "o/"

func orphanKey(id string) []byte { return []byte(orphanRoot + id) }

// orphanSkew is how far Graph's clock (an attachment's LastModified) may be ahead of ours.
const orphanSkew = 5 * time.Minute

// orphanRetry bounds the wait between two looks at an item that could not be listed.
const orphanRetry = 5 * time.Minute

// mayHaveAttached says whether a file's creating request was sent and its outcome never learnt.
// Callers hold s.mu.
func mayHaveAttached(e *entry) bool {
	return e.rec.State == StateUploading && e.rec.Final
}

// newOrphan describes e's possible attachment. Callers hold s.mu.
func (s *Spool) newOrphan(e *entry) *orphan {
	now := time.Now()
	sent := e.rec.FinalAt
	if sent.IsZero() { // a final PUT (only a POST's time is recorded): at the latest now
		sent = now
	}
	o := &orphan{ID: newID(), File: e.id, Item: e.rec.Item, Name: e.rec.Name, KnownIDs: slices.Clone(e.rec.KnownIDs),
		Since: now, Until: sent.Add(s.opts.LandingWindow)}
	if e.running {
		o.running = e
	}
	return o
}

// registerLocked starts hunting o in memory, from the moment the file it stands for leaves it:
// an attachment one of our files makes from then on is noted in o (noteAttached), never taken
// for o's. Callers hold s.mu.
func (s *Spool) registerLocked(o *orphan) {
	s.orphans[o.ID] = o
}

// orphanDataLocked encodes o as it is now. Callers hold s.mu.
func orphanDataLocked(o *orphan) ([]byte, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("spool: encode orphan: %w", err)
	}
	return data, nil
}

// storeOrphan writes orphan id's record as it is now (nothing if it was resolved meanwhile),
// with extra in the same transaction.
func (s *Spool) storeOrphan(id string, extra func(txn *badger.Txn) error) error {
	s.omu.Lock()
	defer s.omu.Unlock()
	var data []byte
	s.mu.Lock()
	o, ok := s.orphans[id]
	var err error
	if ok {
		data, err = orphanDataLocked(o)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.write(func(txn *badger.Txn) error {
		if data != nil {
			if err := txn.Set(orphanKey(id), data); err != nil {
				return err
			}
		}
		return extra(txn)
	})
}

// adoptOrphan has the hunter look for o (registered already, its record stored with the removal).
func (s *Spool) adoptOrphan(o *orphan) {
	s.log.Warn("could not tell whether "+o.Name+" was attached before it was given up; outlookfs keeps checking and deletes it if it was",
		"id", o.File, "item", o.Item)
	s.kickHunter()
}

// loadOrphans reads the orphans a previous process left. Called by Open before anything runs.
func (s *Spool) loadOrphans() error {
	return s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte(orphanRoot)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(bytes.TrimPrefix(it.Item().Key(), []byte(orphanRoot)))
			var o orphan
			err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &o) })
			if err != nil || o.ID != id {
				s.log.Error("unreadable orphan record; dropping it", "id", id, "err", err)
				continue
			}
			s.orphans[id] = &o
		}
		return nil
	})
}

// noteAttached keeps an attachment one of our files made from ever being taken for an orphan's.
// Called before the file is recorded attached: a crash in between leaves the attachment known
// to the orphans, and the file finds it again as its own after the restart.
// The orphan of file itself (removed while this, its own request, was on the wire) is not told:
// that attachment must go.
func (s *Spool) noteAttached(item graph.ItemRef, name, attID, file string) {
	s.omu.Lock()
	defer s.omu.Unlock()
	s.mu.Lock()
	s.nameChanges++
	changed := map[string][]byte{}
	var err error
	for _, o := range s.orphans {
		if o.File != file && o.Item.ID == item.ID && o.Name == name && !slices.Contains(o.KnownIDs, attID) {
			o.KnownIDs = append(o.KnownIDs, attID)
			var data []byte
			if data, err = orphanDataLocked(o); err != nil {
				break
			}
			changed[o.ID] = data
		}
	}
	s.mu.Unlock()
	if err == nil && len(changed) > 0 {
		err = s.write(func(txn *badger.Txn) error {
			for id, data := range changed {
				if err := txn.Set(orphanKey(id), data); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		s.log.Warn("could not record an attachment as ours", "item", item, "err", err)
	}
}

func (s *Spool) kickHunter() { kick(s.huntKick) }

// hunter resolves orphans: at once when kicked, then with a growing wait while items cannot be
// listed (or a namesake is on its way).
func (s *Spool) hunter() {
	defer s.wg.Done()
	wait := time.Second
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.huntKick:
			wait = time.Second
		}
		s.mu.Lock()
		var todo []*orphan
		for _, o := range s.orphans {
			todo = append(todo, o)
		}
		s.mu.Unlock()
		left := 0
		for _, o := range todo {
			if !s.hunt(s.ctx, o) {
				left++
			}
		}
		if left == 0 {
			wait = time.Second
			continue // nothing to do until kicked
		}
		t.Reset(wait)
		wait = min(2*wait, orphanRetry)
	}
}

// busyLocked says whether o cannot be resolved now: its own request may still be on the wire,
// or a file with its name on its item is on its way (its attachment could be taken for o's).
// Callers hold s.mu.
func (s *Spool) busyLocked(o *orphan) bool {
	if o.running != nil && o.running.running {
		return true
	}
	for _, e := range s.files {
		if e.dropped || e.rec.Item.ID != o.Item.ID || e.rec.Name != o.Name {
			continue
		}
		if e.rec.State == StateFailed || (e.rec.State == StateWriting && e.rec.Abandoned) {
			continue // never uploads
		}
		return true
	}
	return false
}

// hunt looks once for o's attachment and deletes it if it is there; true once o is resolved.
func (s *Spool) hunt(ctx context.Context, o *orphan) bool {
	s.mu.Lock()
	if s.busyLocked(o) {
		s.mu.Unlock()
		return false
	}
	// Its request was on the wire when its file was given up, and has ended since (cut, most
	// often): the server may still finish it, for LandingWindow from now.
	ended := o.running != nil
	if ended {
		o.running = nil
		if until := time.Now().Add(s.opts.LandingWindow); until.After(o.Until) {
			o.Until = until
		}
	}
	before := s.nameChanges
	s.mu.Unlock()
	if ended {
		if err := s.storeOrphan(o.ID, func(*badger.Txn) error { return nil }); err != nil {
			s.log.Warn("could not record how long an upload given up may still land", "id", o.File, "err", err)
		}
	}

	atts, err := s.opts.Uploader.ListAttachments(ctx, o.Item)
	if graph.IsNotFound(err) {
		s.resolveOrphan(o, "its item no longer exists")
		return true
	}
	if err != nil {
		s.log.Debug("cannot look for an attachment that may have been made; trying again later", "id", o.File, "err", err)
		return false
	}
	s.mu.Lock()
	if s.busyLocked(o) || s.nameChanges != before {
		s.mu.Unlock()
		return false
	}
	var found []string
	for _, a := range atts {
		if a.Name != o.Name || slices.Contains(o.KnownIDs, a.ID) {
			continue
		}
		if !a.LastModified.IsZero() && a.LastModified.After(o.Until.Add(orphanSkew)) {
			continue // made after o's request could land: someone else's (Outlook, while we were offline)
		}
		found = append(found, a.ID)
	}
	s.mu.Unlock()
	switch len(found) {
	case 0:
		if time.Now().Before(o.Until) {
			return false // the request may still land: look again
		}
		s.resolveOrphan(o, "it was not attached")
		return true
	case 1:
		err := s.opts.Uploader.DeleteAttachment(ctx, o.Item, found[0])
		if err != nil && !graph.IsNotFound(err) {
			s.log.Debug("could not delete an attachment whose upload was given up; trying again later", "id", o.File, "err", err)
			return false
		}
		s.log.Info("deleted "+o.Name+": its upload was given up, yet had attached it", "id", o.File, "item", o.Item)
		s.resolveOrphan(o, "")
		return true
	default:
		// More than one new attachment with this name, none of ours: made elsewhere (Outlook).
		s.log.Warn("could not tell which of the attachments named "+o.Name+" an upload given up may have made; left them all",
			"id", o.File, "item", o.Item, "count", len(found))
		s.resolveOrphan(o, "")
		return true
	}
}

// resolveOrphan forgets o.
func (s *Spool) resolveOrphan(o *orphan, why string) {
	s.omu.Lock()
	defer s.omu.Unlock()
	s.mu.Lock()
	delete(s.orphans, o.ID)
	s.mu.Unlock()
	if why != "" {
		s.log.Debug("an upload given up left nothing: "+why, "id", o.File, "item", o.Item)
	}
	if err := s.write(func(txn *badger.Txn) error { return txn.Delete(orphanKey(o.ID)) }); err != nil {
		s.log.Warn("could not forget a resolved orphan", "id", o.File, "err", err)
	}
}
