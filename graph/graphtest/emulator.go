package graphtest

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Emulator holds the mailboxes, tokens and upload sessions, and serves Graph
// (GraphHandler) and the upload host (UploadHandler).
type Emulator struct {
	opts Options

	mu        sync.Mutex
	mailboxes map[string]*Mailbox // by lower-case UPN
	tokens    map[string]*token
	sessions  map[string]*uploadSession
	mounts    []mount

	appToken string
	// expireEpoch is bumped by ExpireSessions: sessions created before the
	// bump are expired.
	expireEpoch atomic.Uint64
	// inFlight counts requests being served (their record not yet in the log).
	inFlight atomic.Int64

	faults faultSet
	log    requestLog
	link   link
}

type mount struct {
	prefix string
	h      http.Handler
}

// New returns an emulator with no mailboxes.
func New(opts Options) *Emulator {
	opts = opts.withDefaults()
	e := &Emulator{
		opts:      opts,
		mailboxes: map[string]*Mailbox{},
		tokens:    map[string]*token{},
		sessions:  map[string]*uploadSession{},
	}
	e.appToken = "eyJ0eXAiOiJKV1QifQ.app." + randomString(32)
	e.tokens[e.appToken] = &token{app: true}
	e.log.limit = opts.RequestLogLimit
	e.link.set(opts.Bandwidth, opts.Latency)
	return e
}

// Options returns the emulator's settings, defaults filled in.
func (e *Emulator) Options() Options { return e.opts }

func (e *Emulator) now() time.Time { return e.opts.Now() }

// AddMailbox creates a mailbox (or returns the existing one) with a delegated
// token for its user, valid for a day.
func (e *Emulator) AddMailbox(upn string) *Mailbox {
	key := strings.ToLower(upn)
	e.mu.Lock()
	if m := e.mailboxes[key]; m != nil {
		e.mu.Unlock()
		return m
	}
	m := &Mailbox{e: e, upn: upn, items: map[string]*item{}, delegates: map[string]bool{}}
	e.mailboxes[key] = m
	e.mu.Unlock()
	m.token = e.IssueToken(upn, 24*time.Hour)
	return m
}

// Mailbox returns the mailbox of upn (case-insensitive), or nil.
func (e *Emulator) Mailbox(upn string) *Mailbox {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mailboxes[strings.ToLower(upn)]
}

// SetLink changes the simulated link at run time (bandwidth in bytes per
// second, 0 = unlimited; latency added once per request).
func (e *Emulator) SetLink(bandwidth int64, latency time.Duration) {
	e.link.set(bandwidth, latency)
}

// Mount serves h for request paths under prefix on the Graph host, e.g. the
// fake identity provider or an extra control endpoint under /_emulator/.
// Mounts are tried before everything else; mounted handlers get no emulation
// (no log, throttling or faults).
// Mounting the same prefix again replaces the earlier handler (so InstallIdP
// after Start replaces the IdP Start installed on those paths).
func (e *Emulator) Mount(prefix string, h http.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.mounts {
		if e.mounts[i].prefix == prefix {
			e.mounts[i].h = h
			return
		}
	}
	e.mounts = append(e.mounts, mount{prefix: prefix, h: h})
}

func (e *Emulator) mounted(path string) http.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.mounts {
		if strings.HasPrefix(path, m.prefix) {
			return m.h
		}
	}
	return nil
}

// GraphHandler serves Graph (/v1.0/...) and the control endpoints
// (/_emulator/...).
func (e *Emulator) GraphHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := e.mounted(r.URL.Path); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, controlPrefix):
			e.serveControl(w, r)
		default:
			e.serve(w, r, hostGraph, e.handleGraph)
		}
	})
}

// UploadHandler serves the upload host (upload session URLs).
func (e *Emulator) UploadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serve(w, r, hostUpload, e.handleUpload)
	})
}

// ExpireSessions expires every open upload session now.
func (e *Emulator) ExpireSessions() { e.expireEpoch.Add(1) }

// Reset forgets injected faults, the request log and the concurrency and
// volume counters. Mailboxes, tokens and sessions stay.
func (e *Emulator) Reset() {
	e.faults.clear()
	e.log.clear()
	for _, m := range e.allMailboxes() {
		m.load.reset()
	}
}

// allMailboxes returns the mailboxes, for work that must not hold e.mu while it locks each.
func (e *Emulator) allMailboxes() []*Mailbox {
	e.mu.Lock()
	defer e.mu.Unlock()
	mbs := make([]*Mailbox, 0, len(e.mailboxes))
	for _, m := range e.mailboxes {
		mbs = append(mbs, m)
	}
	return mbs
}

// MaxInFlight is the highest number of concurrent requests seen for the
// mailbox: the count at each arrival, the arriving request included, whether
// it was admitted or refused with 429. A client that keeps to the limit of 4
// never makes it exceed 4.
func (e *Emulator) MaxInFlight(upn string) int {
	if m := e.Mailbox(upn); m != nil {
		return m.load.stats().MaxInFlight
	}
	return 0
}

// MaxAdmitted is the highest number of requests the mailbox had in flight at
// once among those admitted (never more than Options.MaxConcurrent).
func (e *Emulator) MaxAdmitted(upn string) int {
	if m := e.Mailbox(upn); m != nil {
		return m.load.stats().MaxAdmitted
	}
	return 0
}

// Throttled is how many requests for the mailbox were refused with 429
// (concurrency or volume) since the last Reset.
func (e *Emulator) Throttled(upn string) int {
	if m := e.Mailbox(upn); m != nil {
		return m.load.stats().Throttled
	}
	return 0
}
