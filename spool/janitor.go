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

// gcValueLog runs Badger's value-log GC until it has nothing to rewrite.
//
// A rewrite copies the live values of the picked log file through Badger's
// mmap'ed value log, so it must fit on the disk (see diskReserve). A file is
// picked only if at least ratio of it is garbage, so its live bytes are at most
// (1-ratio) of a log file - and never more than the spool holds. The ratio is
// the lowest that fits the free space: on a nearly full disk only (almost)
// dead files are collected, which frees room for the rest.
func (s *Spool) gcValueLog() {
	for s.ctx.Err() == nil {
		s.diskMu.Lock()
		s.mu.Lock()
		held := s.used
		s.mu.Unlock()
		ratio, ok := 0.01, true // nothing held: every log file but the head is garbage
		if held > 0 {
			free, err := s.diskFree()
			ratio, ok = gcRatio(free, held)
			ok = ok && err == nil
		}
		if !ok {
			s.diskMu.Unlock()
			return
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

// maxLogFile bounds a value-log file's size (a file is closed once past
// valueLogFileSize, so the last chunk written may overshoot it).
const maxLogFile = valueLogFileSize + 2*ChunkSize

// gcRatio picks the lowest discard ratio whose worst-case rewrite fits in free
// bytes, with a chunk to spare.
func gcRatio(free, held int64) (float64, bool) {
	for _, r := range []float64{0.5, 0.75, 0.9, 0.99} {
		live := min(int64((1-r)*maxLogFile), held)
		if free >= live+ChunkSize {
			return r, true
		}
	}
	return 0, false
}
