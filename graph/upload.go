package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// UploadOptions are the callbacks of Upload and ResumeUpload.
type UploadOptions struct {
	Progress  func(confirmed int64) // after each accepted PUT
	OnSession func(UploadSession)   // right after the session is created (persist it)
}

// maxNewSessions is how many times Upload starts over with a new session after
// its session expired part way.
const maxNewSessions = 2

// Upload attaches a.Size bytes read from r to item and returns the attachment's
// id: one POST under MinUploadSessionSize (see AddSmallAttachment for the request
// size policy), else an upload session with ordered PUTs of MaxRangeSize. Over
// MaxAttachmentSize it returns ErrTooLarge before any request. If the session
// expires part way, Upload starts again with a new one (at most twice).
// An error wrapping ErrUploadOutcomeUnknown means the attachment may exist.
func (c *Client) Upload(ctx context.Context, item ItemRef, a NewAttachment, r io.ReaderAt, opts UploadOptions) (string, error) {
	if a.Size > MaxAttachmentSize {
		return "", fmt.Errorf("graph: upload: %d bytes: %w", a.Size, ErrTooLarge)
	}
	if a.Size < 0 {
		return "", fmt.Errorf("graph: upload: negative size %d", a.Size)
	}
	if a.Size < MinUploadSessionSize {
		data := make([]byte, a.Size)
		if err := readFullAt(r, data, 0); err != nil {
			return "", fmt.Errorf("graph: upload: reading the source: %w", err)
		}
		att, err := c.AddSmallAttachment(ctx, item, a, data)
		if err != nil {
			return "", err
		}
		if opts.Progress != nil {
			opts.Progress(a.Size)
		}
		return att.ID, nil
	}
	for restarts := 0; ; restarts++ {
		s, err := c.CreateUploadSession(ctx, item, a)
		if err != nil {
			return "", err
		}
		if opts.OnSession != nil {
			opts.OnSession(s)
		}
		id, err := c.runSession(ctx, s, r, a.Size, s.Next, opts)
		if err == nil {
			return id, nil
		}
		if errors.Is(err, ErrUploadSessionGone) && !errors.Is(err, ErrUploadOutcomeUnknown) &&
			restarts < maxNewSessions && ctx.Err() == nil {
			c.log.Debug("graph: upload session gone part way; starting a new one", "item", item.String())
			continue
		}
		if IsTooLarge(err) || IsQuotaExceeded(err) || IsForbidden(err) {
			c.cancelQuietly(ctx, s)
		}
		return "", err
	}
}

// ResumeUpload continues an upload session: it asks the session where it stands
// and sends the rest of size bytes from r. A session that is gone gives an error
// wrapping ErrUploadSessionGone (start again with a new session).
func (c *Client) ResumeUpload(ctx context.Context, s UploadSession, r io.ReaderAt, size int64, opts UploadOptions) (string, error) {
	st, err := c.UploadStatus(ctx, s)
	if err != nil {
		return "", err
	}
	if opts.Progress != nil {
		opts.Progress(st.Next)
	}
	if !st.Expires.IsZero() {
		s.Expires = st.Expires
	}
	return c.runSession(ctx, s, r, size, st.Next, opts)
}

// cancelQuietly drops a session that cannot succeed; failures only get logged.
func (c *Client) cancelQuietly(ctx context.Context, s UploadSession) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.CancelUpload(ctx, s); err != nil {
		c.log.Debug("graph: cancelling a failed upload session", "error", err.Error())
	}
}

// chunk is one range read from the source.
type chunk struct {
	off  int64
	data []byte
	err  error
}

// runSession sends [next, size) of r through s. While one range is on the wire
// the next one is read from r (double buffering), so a slow source and the
// network overlap.
func (c *Client) runSession(ctx context.Context, s UploadSession, r io.ReaderAt, size, next int64, opts UploadOptions) (string, error) {
	bufSize := min(size, int64(MaxRangeSize))
	bufs := [2][]byte{make([]byte, bufSize), make([]byte, bufSize)}
	read := func(buf []byte, off int64) chunk {
		n := min(int64(len(buf)), size-off)
		b := buf[:n]
		return chunk{off: off, data: b, err: readFullAt(r, b, off)}
	}
	if next < 0 || next > size {
		return "", fmt.Errorf("graph: upload: the session expects offset %d of %d", next, size)
	}
	if next == size {
		return "", fmt.Errorf("graph: upload: the session has every byte but did not complete: %w", ErrUploadOutcomeUnknown)
	}
	cur := read(bufs[0], next)
	spare := bufs[1]
	for {
		if cur.err != nil {
			return "", fmt.Errorf("graph: upload: reading the source at %d: %w", cur.off, cur.err)
		}
		// Read the following range while this one is sent.
		ahead := cur.off + int64(len(cur.data))
		var prefetch chan chunk
		if ahead < size {
			prefetch = make(chan chunk, 1)
			go func(buf []byte) { prefetch <- read(buf, ahead) }(spare)
		}
		res, err := c.PutRange(ctx, s, cur.off, cur.data, size)
		var pre chunk
		if prefetch != nil {
			pre = <-prefetch // never leave a reader running past return
		}
		if err != nil {
			return "", err
		}
		if res.Done {
			if opts.Progress != nil {
				opts.Progress(size)
			}
			return res.AttachmentID, nil
		}
		if !res.Expires.IsZero() {
			s.Expires = res.Expires
		}
		if res.Next < 0 || res.Next >= size {
			return "", fmt.Errorf("graph: upload: the session expects offset %d of %d: %w", res.Next, size, ErrUploadOutcomeUnknown)
		}
		if opts.Progress != nil {
			opts.Progress(res.Next)
		}
		used := cur.data[:cap(cur.data)]
		if prefetch != nil && res.Next == ahead {
			cur = pre
		} else {
			// The session wants another offset: read it into the spare buffer
			// (the prefetched range, if any, is dropped).
			cur = read(spare, res.Next)
		}
		spare = used
	}
}

// readFullAt fills b from r at off; a source shorter than that is an error.
func readFullAt(r io.ReaderAt, b []byte, off int64) error {
	if len(b) == 0 {
		return nil
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
