package spool

import (
	"errors"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The janitor expires scratch, abandoned and failed files, drops the keys of
// finished files (DropPrefix: plain deletes reclaim nothing until compaction)
// and runs the value-log GC. It runs periodically and when kicked (after
// recovery, after big drops).

func (s *Spool) kickJanitor() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Spool) janitor() {
	defer s.wg.Done()
	every := min(janitorInterval, s.opts.ScratchTTL/2, s.opts.AbandonedTTL/2)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.expire(time.Now())
		s.collect()
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

// collect drops the keys of finished files, then reclaims value-log space.
func (s *Spool) collect() {
	s.mu.Lock()
	drops := s.drops
	s.drops, s.dropBytes = nil, 0
	s.mu.Unlock()
	if len(drops) > 0 {
		s.dropMu.Lock()
		err := s.db.DropPrefix(drops...)
		s.dropMu.Unlock()
		if err != nil {
			s.log.Warn("could not drop finished files' keys; will retry", "err", err)
			s.mu.Lock()
			s.drops = append(s.drops, drops...)
			s.mu.Unlock()
			return
		}
	}
	s.gcValueLog()
}

// gcValueLog runs Badger's value-log GC until it has nothing to rewrite. A
// rewrite copies the live values of a log file, so it runs only with room for
// them on the disk (the bytes the spool holds, at most one log file) plus a
// chunk; not the whole diskReserve, or a full disk could never be reclaimed.
func (s *Spool) gcValueLog() {
	for s.ctx.Err() == nil {
		s.diskMu.Lock()
		s.mu.Lock()
		need := min(int64(valueLogFileSize), s.used)
		s.mu.Unlock()
		// With nothing held every value-log file but the head is garbage: take
		// any the discard statistics know about.
		ratio := 0.5
		if need == 0 {
			ratio = 0.01
		}
		if need > 0 {
			if free, err := s.diskFree(); err != nil || free < need+ChunkSize {
				s.diskMu.Unlock()
				return
			}
		}
		err := s.db.RunValueLogGC(ratio)
		s.diskMu.Unlock()
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value-log GC", "err", err)
			}
			return
		}
	}
}
