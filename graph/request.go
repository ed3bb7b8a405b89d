package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// request is one logical call to Graph or the upload host. do() may send it
// several times; send() sends it once.
type request struct {
	op     string // what the client is doing, for errors: "list drafts"
	method string
	url    string // absolute; for the upload host a credential
	// upload: the request goes to an upload session URL: no Authorization header,
	// and the URL is never logged or put in an error except as redactURL says.
	upload      bool
	body        []byte
	contentType string
	gzipped     bool              // body is gzip'ed JSON: Content-Encoding: gzip
	header      map[string]string // extra headers (Prefer, Content-Range)
	// idempotent: sending it twice has the effect of sending it once, so network
	// errors and 504 are retried. Otherwise only answers that say the request was
	// refused (429, 503) and connections that were never made are retried.
	idempotent bool
	// goneIsDone: a DELETE whose earlier attempt may have been carried out counts
	// a later 404 as success.
	goneIsDone bool
	// stream: keep the response body open (and the slot held) for the caller.
	stream bool
}

// response is a successful (or, from send, any) answer.
type response struct {
	status int
	header http.Header
	body   []byte        // the whole body, unless the request streamed
	stream io.ReadCloser // the body, holding the request slot until closed
	length int64         // the body's declared length, or -1
}

// maxBodySize bounds what is read into memory from one non-streamed answer
// (the largest is a small attachment's POST answer, with its contentBytes).
const maxBodySize = 64 << 20

// do sends r with retries (see retry.go) and returns the first 2xx answer, or the
// last error: *Error for an error answer, *NetError for a transport failure.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	rt := c.newRetrier()
	var token string
	refreshed := false
	ambiguous := false // an earlier attempt may have been carried out
	for {
		rt.attempt()
		if !r.upload && !refreshed {
			t, err := c.tokens.Token(ctx)
			if err != nil {
				return nil, fmt.Errorf("graph: %s: getting a token: %w", r.op, err)
			}
			token = t
		}
		resp, err := c.send(ctx, r, token, rt.attempts)
		if err != nil {
			if ctx.Err() != nil || !(r.idempotent || notSent(err)) {
				return nil, err
			}
			ambiguous = true
			if werr := rt.wait(ctx, 0, false); werr != nil {
				return nil, giveUp(err, werr)
			}
			continue
		}
		if resp.status < 300 {
			return resp, nil
		}
		if resp.status == http.StatusNotFound && r.goneIsDone && ambiguous {
			return &response{status: http.StatusNoContent, header: resp.header}, nil
		}
		apiErr := c.apiError(r, resp)
		if resp.status == http.StatusUnauthorized && !r.upload && !refreshed {
			// One refresh per request: the token may have been revoked or expired
			// early. The TokenSource must not put secrets in its errors.
			refreshed = true
			t, err := c.tokens.Refresh(ctx)
			if err != nil {
				return nil, &refreshError{refresh: err, api: apiErr}
			}
			token = t
			if rt.attempts >= rt.p.maxAttempts {
				return nil, apiErr
			}
			continue
		}
		if retryableStatus(resp.status) && (r.idempotent || refusedStatus(resp.status)) {
			if resp.status == http.StatusGatewayTimeout {
				ambiguous = true
			}
			ra, has := parseRetryAfter(resp.header.Get("Retry-After"), time.Now())
			if werr := rt.wait(ctx, ra, has); werr != nil {
				return nil, giveUp(apiErr, werr)
			}
			continue
		}
		return nil, apiErr
	}
}

// giveUp is the error of a request that will not be tried again: the last
// failure, plus the context's error if that is why.
func giveUp(last, waitErr error) error {
	if errors.Is(waitErr, errRetryBudget) {
		return last
	}
	return fmt.Errorf("%w (gave up waiting to retry: %w)", last, waitErr)
}

// acquire takes a request slot, waiting for one as long as ctx allows.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.sem }

// send makes one attempt at r while holding a request slot. The slot is released
// when send returns, or for a streamed 2xx answer when its body is closed.
func (c *Client) send(ctx context.Context, r *request, token string, attempt int) (*response, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, c.netError(r, err)
	}
	released := false
	defer func() {
		if !released {
			c.release()
		}
	}()
	body := &bodyFence{data: r.body}
	defer body.close()
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body.reader())
	if err != nil {
		return nil, c.netError(r, err)
	}
	req.ContentLength = int64(len(r.body))
	req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	if len(r.body) == 0 {
		req.Body = http.NoBody
		req.GetBody = nil
	}
	if !r.upload {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "outlookfs")
	if !r.stream {
		// A download's $value is whatever the attachment is: no Accept for it.
		req.Header.Set("Accept", "application/json")
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	hr, err := c.hc.Do(req)
	if err != nil {
		c.logRequest(ctx, r, 0, start, attempt, err)
		return nil, c.netError(r, err)
	}
	resp := &response{status: hr.StatusCode, header: hr.Header, length: hr.ContentLength}
	if r.stream && hr.StatusCode < 300 {
		c.logRequest(ctx, r, hr.StatusCode, start, attempt, nil)
		released = true
		resp.stream = &slotBody{ReadCloser: hr.Body, release: c.release}
		return resp, nil
	}
	resp.body, err = io.ReadAll(io.LimitReader(hr.Body, maxBodySize))
	hr.Body.Close()
	c.logRequest(ctx, r, hr.StatusCode, start, attempt, err)
	if err != nil {
		return nil, c.netError(r, fmt.Errorf("reading the answer to a %d: %w", hr.StatusCode, err))
	}
	return resp, nil
}

// slotBody is a streamed answer body that holds a request slot until closed.
type slotBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *slotBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// logRequest writes one debug line per attempt. The path is safe (no query of an
// upload URL, no token); the error is logged through its redacted text.
func (c *Client) logRequest(ctx context.Context, r *request, status int, start time.Time, attempt int, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", r.op),
		slog.String("method", r.method),
		slog.String("path", redactURL(r.url, r.upload)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int("attempt", attempt),
	}
	if len(r.body) > 0 {
		attrs = append(attrs, slog.Int("bytes", len(r.body)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", c.netError(r, err).Err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "graph request", attrs...)
}

// bodyFence hands out readers of a request body that stop reading the caller's bytes once
// send returns. Go's transport may go on reading a body, or rewind it through GetBody, after
// Do returned (when the server answered before it read everything); by then the caller may
// reuse or unmap the bytes (the spool's upload buffers are anonymous mappings, and reading one
// after it was unmapped would crash the process).
type bodyFence struct {
	mu     sync.Mutex
	data   []byte
	closed bool
}

// errBodyFenced: the transport read a request body after its request was over.
var errBodyFenced = errors.New("graph: request body read after its request ended")

func (f *bodyFence) reader() io.ReadCloser { return &fencedReader{f: f} }

func (f *bodyFence) close() {
	f.mu.Lock()
	f.closed, f.data = true, nil
	f.mu.Unlock()
}

type fencedReader struct {
	f   *bodyFence
	off int
}

func (r *fencedReader) Read(p []byte) (int, error) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if r.f.closed {
		return 0, errBodyFenced
	}
	if r.off >= len(r.f.data) {
		return 0, io.EOF
	}
	n := copy(p, r.f.data[r.off:])
	r.off += n
	return n, nil
}

func (r *fencedReader) Close() error { return nil }
