package spool

import (
	"errors"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The janitor expires scratch, abandoned and failed files, drops the keys of
// data files of finished and removed files and runs Badger's value-log GC. It runs periodically and when kicked (after
// recovery, after big drops).

func (s *Spool) kickJanitor() { kick(s.kick) }

// kick wakes the goroutine waiting on ch (a channel with a buffer of one), unless it is woken already.
func kick(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *Spool) janitor() {
	defer s.wg.Done()
	every := min(janitorInterval, s.opts.ScratchTTL/2, s.opts.AbandonedTTL/2)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lastGC := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		now := time.Now()
		s.expire(now)
		s.deleteDropped(true)
		if now.Sub(lastGC) >= janitorInterval {
			s.gcValueLog()
			lastGC = now
		}
	}
}

// expire removes closed scratch files after ScratchTTL, abandoned and failed
// files after AbandonedTTL, and forgets attached files after finishedTTL.
func (s *Spool) expire(now time.Time) {
	var gone []string
	s.mu.Lock()
	for id, e := range s.files {
		r := &e.rec
		switch {
		case e.dropped:
			if now.Sub(r.FinishedAt) > finishedTTL && !e.running {
				delete(s.files, id)
			}
		case r.State == StateCommitted && r.Scratch && e.writer == nil:
			if now.Sub(r.CommittedAt) > s.opts.ScratchTTL {
				gone = append(gone, id)
			}
		case r.State == StateWriting && r.Abandoned:
			if now.Sub(r.AbandonedAt) > s.opts.AbandonedTTL {
				gone = append(gone, id)
			}
		case r.State == StateFailed:
			if now.Sub(r.FinishedAt) > s.opts.AbandonedTTL {
				gone = append(gone, id)
			}
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		if err := s.remove(id); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("could not expire a file", "id", id, "err", err)
			continue
		}
		s.log.Info("expired a file", "id", id)
	}
}

// gcValueLog lets Badger reclaim value-log space. Records are small and live in
// the LSM tree, so there is rarely any; it runs every janitorInterval only, not
// on every drop: Badger's GC rewrite races with concurrent writes inside Badger
// (DB.MaxVersion vs memTable.Put, seen under -race after a migration).
func (s *Spool) gcValueLog() {
	for s.ctx.Err() == nil {
		if err := s.db.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value-log GC", "err", err)
			}
			return
		}
	}
}

// deleteDropped deletes the data files waiting in s.drops. With syncFirst it
// first syncs the database: the records saying that those files are finished
// or removed were written without a sync, and a power loss must not bring back
// a committed record whose bytes are gone.
func (s *Spool) deleteDropped(syncFirst bool) {
	s.mu.Lock()
	drops := s.drops
	s.drops = nil
	s.mu.Unlock()
	if len(drops) == 0 {
		return
	}
	if syncFirst {
		if err := s.sync(); err != nil {
			s.log.Warn("could not sync the spool's records; finished files' data kept for now", "err", err)
			s.mu.Lock()
			s.drops = append(s.drops, drops...)
			s.mu.Unlock()
			return
		}
	}
	var failed []string
	for _, id := range drops {
		if err := s.removeData(id); err != nil {
			s.log.Warn("could not delete a finished file's data; will retry", "id", id, "err", err)
			failed = append(failed, id)
		}
	}
	if len(failed) > 0 {
		s.mu.Lock()
		s.drops = append(s.drops, failed...)
		s.mu.Unlock()
	}
}
