package spool

import (
	"context"
	"math/rand/v2"
	"time"
)

// The upload queue: Options.Workers goroutines take files in order. The graph
// client limits the requests in flight per mailbox; each worker has at most
// one PUT on the wire.

// enqueue queues a file for upload (if it is not queued already).
func (s *Spool) enqueue(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.files[id]; ok {
		s.enqueueLocked(e)
	}
}

// enqueueLocked: callers hold s.mu.
func (s *Spool) enqueueLocked(e *entry) {
	if s.opts.Uploader == nil || s.closing || e.dropped {
		return
	}
	if e.running {
		e.rerun = true
		return
	}
	if e.queued {
		return
	}
	if e.retryTimer != nil {
		e.retryTimer.Stop()
		e.retryTimer = nil
	}
	e.queued = true
	s.queue = append(s.queue, e.id)
	s.queueCond.Signal()
}

// runnable says whether a worker has something to do for e. Callers hold s.mu.
func runnable(e *entry) bool {
	if e.dropped {
		return false
	}
	switch e.rec.State {
	case StateCommitted, StateUploading:
		return !e.rec.Scratch
	case StateAttached:
		return e.rec.ReplacePending
	}
	return false
}

func (s *Spool) worker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.queueCond.Wait()
		}
		if s.closing {
			s.mu.Unlock()
			return
		}
		id := s.queue[0]
		s.queue = s.queue[1:]
		e, ok := s.files[id]
		if !ok || !e.queued {
			s.mu.Unlock()
			continue
		}
		e.queued = false
		if !runnable(e) {
			s.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		e.running, e.cancel = true, cancel
		s.runs++
		gen := e.gen
		s.mu.Unlock()

		s.runUpload(ctx, e, gen)
		cancel()

		s.mu.Lock()
		e.running, e.cancel = false, nil
		if e.rerun {
			e.rerun = false
			if runnable(e) {
				s.enqueueLocked(e)
			}
		}
		s.runs--
		s.mu.Unlock()
	}
}

// retryLater queues e again after a backoff that grows with its failures in a
// row, and not before the server said to come back (notBefore: its Retry-After,
// which for Outlook's 10,000-requests-per-10-minutes limit can be minutes).
func (s *Spool) retryLater(e *entry, notBefore time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.retries++
	d := min(maxRetryDelay, time.Second<<min(e.retries, 10))
	d = d/2 + rand.N(d/2+1)
	d = max(d, min(notBefore, maxServerRetryAfter))
	if s.closing || e.dropped {
		return d
	}
	if e.retryTimer != nil {
		e.retryTimer.Stop()
	}
	e.retryTimer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		e.retryTimer = nil
		s.enqueueLocked(e)
	})
	return d
}
