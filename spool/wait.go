package spool

import (
	"context"
	"fmt"
)

// Wait blocks until the file is attached (nil error; the attachment it
// replaces is deleted by then, unless deleting it failed for now) or failed (*UploadError),
// calling progress(confirmed, total) when the confirmed byte count changes
// (and once at the start). A file that will never be uploaded - abandoned by a
// previous process - gives an *UploadError at once; a file removed meanwhile
// gives ErrNotFound; ctx ends the wait (not the upload).
func (s *Spool) Wait(ctx context.Context, id string, progress func(confirmed, total int64)) (Meta, error) {
	reported := int64(-1)
	for {
		s.mu.Lock()
		e, ok := s.files[id]
		if !ok {
			s.mu.Unlock()
			return Meta{}, ErrNotFound
		}
		m := e.meta()
		// An attached file that replaces another is done once the old one is
		// deleted (or the first attempt to delete it failed).
		replacing := e.rec.ReplacePending && !e.replaceTried && !e.dropped
		changed := e.changed
		closing := s.closing
		lastErr := e.lastErr
		s.mu.Unlock()

		if progress != nil && m.Confirmed != reported {
			reported = m.Confirmed
			progress(m.Confirmed, m.Size)
		}
		switch {
		case m.State == StateAttached && !replacing:
			return m, nil
		case m.State == StateFailed:
			return m, &UploadError{Kind: m.FailKind, Reason: m.Reason, Err: lastErr}
		case m.Abandoned:
			return m, &UploadError{Kind: FailOther, Reason: "the program writing this file stopped before " +
				"closing it (outlookfs was restarted), so it was not attached; copy the file again"}
		case closing:
			return m, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return m, fmt.Errorf("spool: wait: %w", ctx.Err())
		}
	}
}
