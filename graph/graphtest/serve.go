package graphtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Hosts as the request log and faults name them.
const (
	hostGraph  = "graph"
	hostUpload = "upload"
)

// drainLimit bounds how much of an unread request body is read after the
// answer, so a client still sending gets the answer rather than a reset.
const drainLimit = 32 << 20

// call is one request going through the emulator.
type call struct {
	e    *Emulator
	host string
	r    *http.Request
	w    http.ResponseWriter // handlers write here (a discarding writer while a fault waits)
	rw   *responseRecorder   // the real answer, counted
	orig http.ResponseWriter // the server's writer (to hijack)
	body *bodyReader
	rec  RequestRecord

	mb          *Mailbox
	tok         *token
	releaseOnce sync.Once
	release     func()
	pending     *Fault // apply-then-fail: answered after the handler
	cut         bool   // the connection was cut: nothing more to write or read
	abort       bool   // HTTP/2: reset the stream once the request is logged
}

// serve runs h for one request with the link, the request log and the
// bookkeeping every request shares.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, host string, h func(*call)) {
	e.inFlight.Add(1)
	c := &call{e: e, host: host, orig: w}
	c.rec = RequestRecord{
		Host: host, Method: r.Method, Proto: r.Proto, Path: r.URL.Path,
		Range: r.Header.Get("Content-Range"), Start: e.now(),
	}
	c.body = &bodyReader{rc: r.Body, link: &e.link, ctx: r.Context()}
	r.Body = c.body
	c.r = r
	c.rw = &responseRecorder{ResponseWriter: w, c: c}
	c.w = c.rw
	w.Header().Set("request-id", newUUID())
	if id := r.Header.Get("client-request-id"); id != "" {
		w.Header().Set("client-request-id", id)
	}
	defer func() {
		c.finish()
		if !c.cut {
			_, _ = io.Copy(io.Discard, io.LimitReader(c.body, drainLimit))
		}
		c.rec.End = e.now()
		c.rec.Status = c.rw.status
		if c.cut {
			c.rec.Status = 0
		} else if c.rec.Status == 0 {
			c.rec.Status = http.StatusOK
		}
		c.rec.BytesIn = c.body.n
		c.rec.BytesOut = c.rw.n
		c.rec.Gzip = c.rw.Header().Get("Content-Encoding") == "gzip"
		e.log.add(c.rec)
		e.inFlight.Add(-1)
		if c.abort {
			panic(http.ErrAbortHandler) // resets the HTTP/2 stream, as a cut link looks to the client
		}
		e.opts.Logger.Debug("graphtest request", "host", host, "method", c.rec.Method, "path", c.rec.Path,
			"status", c.rec.Status, "fault", c.rec.Fault, "in", c.rec.BytesIn, "out", c.rec.BytesOut,
			"duration", c.rec.End.Sub(c.rec.Start))
	}()
	if err := e.link.delay(r.Context()); err != nil {
		c.cut = true
		return
	}
	h(c)
}

// enter admits the request for mailbox m (concurrency and volume limits) and
// applies any matching fault. It returns false when the request was answered.
func (c *call) enter(m *Mailbox) bool {
	c.mb = m
	c.rec.Mailbox = m.upn
	ok, retryAfter, msg := m.load.admit(c.e.opts, c.r, c.e.now())
	if !ok {
		c.w.Header().Set("Retry-After", retryAfter)
		writeError(c.w, c.r, http.StatusTooManyRequests, codeThrottled, msg)
		return false
	}
	c.release = m.load.leave
	return c.applyFault()
}

// releaseSlot gives the mailbox's concurrency slot back (once). It runs just
// before the last byte of the answer is written, so a client that sends its
// next request as soon as it has read an answer is never counted twice.
func (c *call) releaseSlot() {
	c.releaseOnce.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
}

// finish answers a pending apply-then-fail fault and releases the slot.
func (c *call) finish() {
	if f := c.pending; f != nil && !c.cut {
		c.pending = nil
		c.w = c.rw
		c.releaseSlot()
		if f.Cut {
			c.cutConnection(0)
		} else {
			c.e.faultAnswer(c.rw, c.r, f)
		}
	}
	c.releaseSlot()
}

// applyFault runs the first matching fault. It returns false when the
// request was answered (or its connection cut).
func (c *call) applyFault() bool {
	f := c.e.faults.match(c.host, c.r.Method, c.r.URL.Path)
	if f == nil {
		return true
	}
	c.rec.Fault = f.describe()
	if f.Delay > 0 {
		if err := sleepCtx(c.r.Context(), f.Delay); err != nil {
			return false
		}
	}
	switch {
	case f.ApplyThenFail:
		c.pending = f
		c.w = &discardWriter{h: http.Header{}}
		return true
	case f.Cut:
		c.cutConnection(f.CutAfter)
		return false
	case f.Status != 0:
		c.e.faultAnswer(c.w, c.r, f)
		return false
	}
	return true
}

// cutConnection reads n bytes of the request body, then closes the
// connection without an answer (a reset where the transport allows).
func (c *call) cutConnection(n int64) {
	if n > 0 {
		_, _ = io.CopyN(io.Discard, c.body, n)
	}
	c.cut = true
	c.releaseSlot()
	conn, _, err := http.NewResponseController(c.orig).Hijack()
	if err != nil {
		c.abort = true // HTTP/2 or in-process: serve resets the stream once it logged the request
		return
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // RST, as a cut link looks to the client
	}
	_ = raw.Close()
}

// responseRecorder counts the answer, throttles it through the link and
// releases the mailbox slot before the last byte.
type responseRecorder struct {
	http.ResponseWriter
	c         *call
	status    int
	n         int64
	remaining int64 // bytes left per Content-Length; -1 unknown
	started   bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.remaining = -1
		if cl, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
			w.remaining = cl
		}
	}
	written := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > linkChunk && w.c.e.link.active() {
			chunk = chunk[:linkChunk]
		}
		if w.remaining >= 0 && int64(len(chunk)) >= w.remaining {
			w.c.releaseSlot()
		}
		if err := w.c.e.link.take(w.c.r.Context(), len(chunk)); err != nil {
			return written, err
		}
		n, err := w.ResponseWriter.Write(chunk)
		written += n
		w.n += int64(n)
		if w.remaining >= 0 {
			w.remaining -= int64(n)
		}
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// acceptsGzip: the request's Accept-Encoding allows a gzip'ed answer (writeJSON sends one).
func (w *responseRecorder) acceptsGzip() bool {
	for _, v := range w.c.r.Header.Values("Accept-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			enc, q, _ := strings.Cut(strings.TrimSpace(enc), ";")
			if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows the handler's answer while an apply-then-fail fault
// waits to answer instead.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// bodyReader counts the request body as read off the wire and throttles it
// through the link.
type bodyReader struct {
	rc   io.ReadCloser
	link *link
	ctx  context.Context
	n    int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if len(p) > linkChunk && b.link.active() {
		p = p[:linkChunk]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if n > 0 {
		if lerr := b.link.take(b.ctx, n); lerr != nil && err == nil {
			err = lerr
		}
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
