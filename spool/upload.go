package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// runUpload does what a worker has to do for e: upload it (small POST or
// upload session, resuming what a previous run or process left), or finish an
// attached file (delete the attachment it replaces). It records the outcome.
func (s *Spool) runUpload(ctx context.Context, e *entry, gen int) {
	s.mu.Lock()
	r := e.rec.clone()
	r.Size = e.size
	s.mu.Unlock()

	var err error
	switch {
	case r.State == StateAttached:
		err = s.finishAttached(ctx, e, gen)
	case r.Size < s.opts.SmallLimit:
		err = s.uploadSmall(ctx, e, gen, r)
	default:
		err = s.uploadLarge(ctx, e, gen, r)
	}
	s.settle(ctx, e, gen, r, err)
}

// settle records the outcome of a run that did not end attached.
func (s *Spool) settle(ctx context.Context, e *entry, gen int, r record, err error) {
	if err == nil {
		s.mu.Lock()
		e.retries = 0
		s.mu.Unlock()
		return
	}
	if ctx.Err() != nil || errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		return // closed, renamed or removed: nothing to record
	}
	kind, reason, permanent := classify(err, r.Size)
	s.mu.Lock()
	attached := e.rec.State == StateAttached
	if !permanent && !isRemote(err) && e.retries >= maxLocalRetries {
		permanent = true // a local problem that retrying did not cure
	}
	s.mu.Unlock()
	if attached && permanent {
		return // finishAttached logs what it could not do
	}
	if !permanent {
		d := s.retryLater(e, retryAfter(err))
		s.log.Warn("upload of "+r.Name+" failed; will retry", "id", e.id, "item", r.Item, "in", d.Round(time.Second), "err", err)
		if !attached {
			s.setReason(e, gen, "retrying: "+reason)
		}
		return
	}
	s.fail(e, gen, kind, reason, err)
}

// setReason records the last problem of a file that is being retried.
func (s *Spool) setReason(e *entry, gen int, reason string) {
	err := s.update(e, gen, func(r *record) error {
		r.Reason = reason
		return nil
	})
	if err != nil && !errors.Is(err, errStale) && !errors.Is(err, ErrNotFound) {
		s.log.Warn("could not record an upload problem", "id", e.id, "err", err)
	}
}

// fail records a permanent failure, cancels the session and drops the bytes.
func (s *Spool) fail(e *entry, gen int, kind FailKind, reason string, cause error) {
	var sess *session
	var item graph.ItemRef
	var name string
	err := s.update(e, gen, func(r *record) error {
		sess, item, name = r.Session, r.Item, r.Name
		r.State, r.FailKind, r.Reason = StateFailed, kind, reason
		r.Session = nil
		r.clearFinal()
		r.FinishedAt = time.Now()
		return nil
	})
	if err != nil {
		if !errors.Is(err, errStale) && !errors.Is(err, ErrNotFound) {
			s.log.Error("could not record a failed upload", "id", e.id, "err", err)
		}
		return
	}
	s.mu.Lock()
	e.lastErr = cause
	s.dropDataLocked(e)
	s.mu.Unlock()
	s.cancelSession(item, sess)
	s.log.Warn("could not attach "+name+": "+reason, "id", e.id, "item", item, "kind", kind, "err", cause)
}

// uploadSmall attaches a file under SmallLimit in one POST.
func (s *Spool) uploadSmall(ctx context.Context, e *entry, gen int, r record) error {
	u := s.opts.Uploader
	if r.Final { // a POST of ours may have landed before, or may still land
		id, ok, err := s.awaitLanding(ctx, r)
		if err != nil || ok {
			if ok {
				s.log.Info("the earlier POST of "+r.Name+" landed; not sending the file again", "id", r.ID, "item", r.Item)
			}
			return s.attachedOr(ctx, e, gen, r.Item, id, err)
		}
		s.log.Info("the earlier POST of "+r.Name+" did not land within the landing window; sending the file again",
			"id", r.ID, "item", r.Item, "window", s.opts.LandingWindow)
	}
	known, err := s.namesakes(ctx, r)
	if err != nil {
		return err
	}
	now := time.Now()
	err = s.update(e, gen, func(x *record) error {
		x.State, x.Final, x.KnownIDs, x.Session, x.FinalAt = StateUploading, true, known, nil, now
		return nil
	})
	if err != nil {
		return err
	}
	r.Final, r.KnownIDs, r.FinalAt = true, known, now

	buf := s.pool.get()
	defer s.pool.put(buf)
	data := buf[:r.Size]
	if _, err := s.readEntry(e, data, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	rctx, done := s.requestCtx(ctx, true)
	att, err := u.AddSmallAttachment(rctx, r.Item, newAttachment(r), data)
	done()
	if err != nil {
		if refused(err) {
			// Answered without creating anything: the next try need not look for it.
			uerr := s.update(e, gen, func(x *record) error {
				x.clearFinal()
				return nil
			})
			if uerr != nil && !errors.Is(uerr, errStale) && !errors.Is(uerr, ErrNotFound) {
				s.log.Warn("could not record a refused upload", "id", e.id, "err", uerr)
			}
			return err
		}
		// The server may still be at work behind this answer (a 504), or the body on its way
		// (a cut connection): the POST may land until LandingWindow from now, not from when
		// it was sent, which can be minutes ago.
		if uerr := s.update(e, gen, func(x *record) error {
			if x.Final {
				x.FinalAt = time.Now()
			}
			return nil
		}); uerr != nil && !errors.Is(uerr, errStale) && !errors.Is(uerr, ErrNotFound) {
			s.log.Warn("could not record when an unanswered upload was last seen", "id", e.id, "err", uerr)
		}
		if ambiguous(err) && ctx.Err() == nil {
			if id, ok, ferr := s.findOurs(ctx, r); ferr == nil && ok {
				return s.attached(ctx, e, gen, r.Item, id)
			}
		}
		return err
	}
	return s.attached(ctx, e, gen, r.Item, att.ID)
}

// uploadLarge attaches a file through an upload session, resuming the recorded
// session while it lives, else starting a new one from byte 0.
func (s *Spool) uploadLarge(ctx context.Context, e *entry, gen int, r record) error {
	u := s.opts.Uploader
	var sess graph.UploadSession
	next := int64(-1) // -1: a new session is needed
	if r.Session != nil {
		sess = graph.UploadSession{URL: r.Session.URL, Expires: r.Session.Expires}
		rctx, done := s.requestCtx(ctx, false)
		st, err := u.UploadStatus(rctx, sess)
		done()
		switch {
		case err == nil:
			next = st.Next
			if !st.Expires.IsZero() {
				sess.Expires = st.Expires
			}
		case graph.IsNotFound(err) || errors.Is(err, graph.ErrUploadSessionGone):
			// Completed (by a final PUT whose answer we lost) or expired.
		case errors.Is(err, graph.ErrUploadStatusUnknown):
			// The upload host does not serve the status GET (Outlook does not document
			// it): go on from the offset recorded last; the PUT's answer tells where the
			// session stands (or that it is gone). A final range sent before may have
			// landed: look for it first, before markFinal records the namesakes anew.
			if r.Final {
				if id, ok, err := s.findOurs(ctx, r); err != nil || ok {
					return s.attachedOr(ctx, e, gen, r.Item, id, err)
				}
			}
			s.log.Debug("the upload host did not say where the session stands; resuming from the offset recorded last",
				"id", e.id, "offset", r.Confirmed)
			next = r.Confirmed
		default:
			return err
		}
	}
	if next < 0 && r.Final {
		if id, ok, err := s.findOurs(ctx, r); err != nil || ok {
			return s.attachedOr(ctx, e, gen, r.Item, id, err)
		}
	}
	for {
		if next < 0 {
			if r.Session != nil && r.Restarts >= maxRestarts {
				return fmt.Errorf("%w: %d upload sessions were lost part way", errGaveUp, r.Restarts)
			}
			var err error
			rctx, done := s.requestCtx(ctx, false)
			sess, err = u.CreateUploadSession(rctx, r.Item, newAttachment(r))
			done()
			if err != nil {
				return err
			}
			restart := r.Session != nil
			err = s.update(e, gen, func(x *record) error {
				x.State, x.Confirmed = StateUploading, 0
				x.clearFinal()
				x.Session = &session{URL: sess.URL, Expires: sess.Expires}
				if restart {
					x.Restarts++
				}
				r = x.clone()
				return nil
			})
			if err != nil {
				s.cancelSession(r.Item, &session{URL: sess.URL})
				return err
			}
			next = sess.Next
		}
		id, err := s.putChunks(ctx, e, gen, &r, sess, next)
		if errors.Is(err, graph.ErrUploadSessionGone) && !errors.Is(err, graph.ErrUploadOutcomeUnknown) && ctx.Err() == nil {
			s.log.Info("upload session lost part way; starting a new one", "id", e.id)
			next = -1
			continue
		}
		if err != nil {
			return err
		}
		return s.attached(ctx, e, gen, r.Item, id)
	}
}

// errGaveUp: the spool stopped trying (a permanent failure).
var errGaveUp = errors.New("spool: gave up")

// putChunks sends [next, size) through sess, chunk by chunk in order, reading
// the following chunk from the database while one is on the wire. It records
// the progress after every accepted PUT and returns the attachment's id.
func (s *Spool) putChunks(ctx context.Context, e *entry, gen int, r *record, sess graph.UploadSession, next int64) (string, error) {
	u := s.opts.Uploader
	size := r.Size
	if next < 0 || next > size {
		return "", fmt.Errorf("the upload session expects offset %d of a %d-byte file", next, size)
	}
	cur, spare := s.pool.get(), s.pool.get()
	defer func() { s.pool.put(cur); s.pool.put(spare) }()
	// load reads [off, end of off's chunk) into buf.
	load := func(buf []byte, off int64) ([]byte, error) {
		end := min((off/ChunkSize+1)*ChunkSize, size)
		b := buf[:end-off]
		if _, err := s.readEntry(e, b, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return b, nil
	}
	data, err := load(cur, next)
	if err != nil {
		return "", err
	}
	for {
		end := next + int64(len(data))
		final := end == size
		var ahead chan error
		var aheadData []byte
		if !final {
			ahead = make(chan error, 1)
			go func(buf []byte) {
				var err error
				aheadData, err = load(buf, end)
				ahead <- err
			}(spare)
		}
		if final {
			if err := s.markFinal(ctx, e, gen, r); err != nil {
				waitAhead(ahead)
				return "", err
			}
		}
		rctx, done := s.requestCtx(ctx, final)
		res, err := u.PutRange(rctx, sess, next, data, size)
		done()
		aheadErr := waitAhead(ahead)
		if err != nil {
			if final && ambiguous(err) && ctx.Err() == nil {
				if id, ok, ferr := s.findOurs(ctx, *r); ferr == nil && ok {
					return id, nil
				}
			}
			return "", err
		}
		if res.Done {
			if res.AttachmentID == "" {
				return "", fmt.Errorf("the final PUT gave no attachment id: %w", graph.ErrUploadOutcomeUnknown)
			}
			return res.AttachmentID, nil
		}
		if res.Next < 0 || res.Next > size {
			return "", fmt.Errorf("the upload session expects offset %d of a %d-byte file", res.Next, size)
		}
		err = s.update(e, gen, func(x *record) error {
			x.Confirmed = res.Next
			if x.Session != nil && !res.Expires.IsZero() {
				x.Session.Expires = res.Expires
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if res.Next == end && !final && aheadErr == nil {
			cur, spare = spare, cur
			data, next = aheadData, end
			continue
		}
		if aheadErr != nil && res.Next == end {
			return "", aheadErr
		}
		// The session expects another offset: continue from there.
		next = res.Next
		if data, err = load(cur, next); err != nil {
			return "", err
		}
	}
}

func waitAhead(ch chan error) error {
	if ch == nil {
		return nil
	}
	return <-ch
}

// markFinal records, before the request that creates the attachment, which
// attachments of the item already have the file's name.
func (s *Spool) markFinal(ctx context.Context, e *entry, gen int, r *record) error {
	known, err := s.namesakes(ctx, *r)
	if err != nil {
		return err
	}
	err = s.update(e, gen, func(x *record) error {
		x.Final, x.KnownIDs = true, known
		return nil
	})
	if err != nil {
		return err
	}
	r.Final, r.KnownIDs = true, known
	return nil
}

// namesakes lists the ids of the item's attachments named like r.
func (s *Spool) namesakes(ctx context.Context, r record) ([]string, error) {
	atts, err := s.opts.Uploader.ListAttachments(ctx, r.Item)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, a := range atts {
		if a.Name == r.Name {
			ids = append(ids, a.ID)
		}
	}
	return ids, nil
}

// findOurs looks for the attachment an ambiguous final request may have
// created: one named like r that was not there before (r.KnownIDs).
func (s *Spool) findOurs(ctx context.Context, r record) (string, bool, error) {
	atts, err := s.opts.Uploader.ListAttachments(ctx, r.Item)
	if err != nil {
		return "", false, err
	}
	for _, a := range atts {
		if a.Name == r.Name && !slices.Contains(r.KnownIDs, a.ID) {
			return a.ID, true, nil
		}
	}
	return "", false, nil
}

// awaitLanding looks for the attachment an unanswered POST of r may have created. A POST
// whose sender died (kill -9, a crash) can still create it after we looked: the body it
// handed to the kernel goes on to the server, which answers nobody. Sending the file again
// right away would attach it twice, so until Options.LandingWindow after that POST was sent
// the item is looked at again every landingPoll before giving up on it.
func (s *Spool) awaitLanding(ctx context.Context, r record) (string, bool, error) {
	logged := false
	for {
		id, ok, err := s.findOurs(ctx, r)
		if err != nil || ok {
			return id, ok, err
		}
		left := time.Until(r.FinalAt.Add(s.opts.LandingWindow))
		if r.FinalAt.IsZero() || left <= 0 {
			return "", false, nil
		}
		if !logged {
			s.log.Info("an earlier POST of "+r.Name+" may still land; waiting for it before sending the file again",
				"id", r.ID, "item", r.Item, "wait", left.Round(time.Second))
			logged = true
		}
		t := time.NewTimer(min(left, landingPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", false, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// landingPoll is how often awaitLanding looks at the item's attachments.
const landingPoll = time.Second

func (s *Spool) attachedOr(ctx context.Context, e *entry, gen int, item graph.ItemRef, id string, err error) error {
	if err != nil {
		return err
	}
	return s.attached(ctx, e, gen, item, id)
}

// attached records that Graph confirmed attachment attID on item (the item the
// upload went to), drops the bytes and finishes the file (deleting the
// attachment it replaces). If the file was renamed or removed meanwhile, attID
// is deleted instead.
func (s *Spool) attached(ctx context.Context, e *entry, gen int, item graph.ItemRef, attID string) error {
	s.mu.Lock()
	name := e.rec.Name
	s.mu.Unlock()
	s.noteAttached(item, name, attID, e.id) // first: an orphan hunt must never take it for its own
	// Before the state says attached (a close waiting for it returns then, and reads back at once).
	s.keepContent(ctx, e, attID)
	var size int64
	err := s.update(e, gen, func(r *record) error {
		size = r.Size
		r.State, r.AttachmentID, r.Confirmed = StateAttached, attID, r.Size
		r.Session = nil
		r.clearFinal()
		r.FailKind, r.Reason = "", ""
		r.FinishedAt = time.Now()
		r.ReplacePending = r.Replaces != ""
		return nil
	})
	if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		// Renamed or removed while its upload completed: that attachment must go.
		s.log.Info("deleting an attachment whose file was renamed or removed during its upload", "id", e.id)
		s.background(func(ctx context.Context) {
			if err := s.opts.Uploader.DeleteAttachment(ctx, item, attID); err != nil && !graph.IsNotFound(err) {
				s.log.Warn("could not delete a superseded attachment", "id", e.id, "err", err)
			}
		})
		return err
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dropDataLocked(e)
	s.mu.Unlock()
	s.log.Info("attached", "id", e.id, "item", item, "size", size)
	return s.finishAttached(ctx, e, gen)
}

// finishAttached deletes the attachment an attached file replaces, then forgets the file.
func (s *Spool) finishAttached(ctx context.Context, e *entry, gen int) error {
	s.mu.Lock()
	r := e.rec.clone()
	s.mu.Unlock()
	if r.ReplacePending {
		err := s.opts.Uploader.DeleteAttachment(ctx, r.Item, r.Replaces)
		if err != nil && !graph.IsNotFound(err) {
			if ctx.Err() != nil || graph.IsTransient(err) || graph.IsUnauthorized(err) {
				s.mu.Lock()
				e.replaceTried = true // Wait need not wait for the retry
				e.notifyLocked()
				s.mu.Unlock()
				return err // retried later; the file stays attached meanwhile
			}
			s.log.Warn("could not delete the attachment a new version replaces", "id", e.id, "item", r.Item, "err", err)
		}
		err = s.update(e, gen, func(x *record) error {
			x.ReplacePending = false
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.dropDataLocked(e)
	e.dropped = true
	e.notifyLocked()
	s.mu.Unlock()
	s.deleteRecord(e.id)
	return nil
}

func newAttachment(r record) graph.NewAttachment {
	return graph.NewAttachment{Name: r.Name, ContentType: r.ContentType, Size: r.Size}
}

// keepContent hands the bytes just attached as attID to Options.Content. A small file's bytes
// (one POST: at most SmallLimit) are handed over before the state says attached, so a close that
// waited for it reads back at once without a download; that costs a few milliseconds. A larger
// file's are copied in the background (150 MiB took 0.7 s on the 2-core test VM: a synchronous
// close must not wait for that), so a read right after its close may still download it once.
// The data file is read through a descriptor opened while the bytes are held: a removal
// meanwhile (the janitor unlinks the data file) cannot change what is read. Should the file have
// been renamed or removed during its upload, attID is deleted right after: content kept for it
// is never read.
func (s *Spool) keepContent(ctx context.Context, e *entry, attID string) {
	if s.opts.Content == nil {
		return
	}
	s.mu.Lock()
	size, held := e.size, e.held && !e.dropped
	s.mu.Unlock()
	if !held {
		return
	}
	f, err := s.openData(e.id)
	if err != nil || f == nil {
		s.log.Debug("could not keep an attached file's content", "id", e.id, "err", err)
		return
	}
	keep := func(ctx context.Context) {
		defer f.Close()
		r := io.NewSectionReader(dataReader{f: f, size: size}, 0, size)
		if _, err := s.opts.Content.Fill(ctx, attID, r); err != nil {
			s.log.Debug("could not keep an attached file's content", "id", e.id, "err", err)
		}
	}
	if size < s.opts.SmallLimit {
		keep(ctx)
		return
	}
	if !s.background(keep) {
		f.Close()
	}
}

// dataReader reads a data file as a file of the given size (holes and a missing tail are zeros).
type dataReader struct {
	f    *os.File
	size int64
}

func (d dataReader) ReadAt(p []byte, off int64) (int, error) { return readData(d.f, d.size, p, off) }
