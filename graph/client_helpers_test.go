package graph

import (
	"context"
	"github.com/outlookfs/outlookfs/graph/graphtest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingTokens is a TokenSource that counts its calls and hands out a new
// token on every Refresh.
type countingTokens struct {
	mu        sync.Mutex
	tok       string
	tokens    int
	refreshes int
	next      func(n int) string // token after the n-th refresh
}

func (t *countingTokens) Token(context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens++
	return t.tok, nil
}

func (t *countingTokens) Refresh(context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshes++
	if t.next != nil {
		t.tok = t.next(t.refreshes)
	}
	return t.tok, nil
}

// fakeServer is a scripted TLS server: handler sees every request; hits counts them.
type fakeServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newFakeServer(t *testing.T, h http.HandlerFunc) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	fs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

// newTestClient returns a client for the fake server with millisecond backoff.
func newTestClient(t *testing.T, fs *fakeServer, tokens TokenSource, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: fs.URL + "/v1.0", Tokens: tokens, HTTPClient: fs.Client()}
	if cfg.Tokens == nil {
		cfg.Tokens = StaticToken("tok-static")
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.retry.baseBackoff = time.Millisecond
	c.retry.maxBackoff = 5 * time.Millisecond
	return c
}

// logBuffer collects every log line, at debug level.
type logBuffer = graphtest.LogBuffer

// debugLogger logs everything into l.
func debugLogger(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func writeGraphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `","innerError":{"request-id":"rid-1"}}}`))
}
