package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const draftsJSON = `{"value":[{"id":"d1","subject":"s","createdDateTime":"2026-11-22T07:00:00Z","lastModifiedDateTime":"2026-11-22T07:30:00.1234567Z","hasAttachments":true}]}`

func TestRetryThrottled(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
	}{
		{"429 integer", 429, "0"},
		{"429 fractional", 429, "0.05"},
		{"429 http date", 429, past},
		{"503 fractional", 503, "0.01"},
		{"503 no retry-after", 503, ""},
		{"504 no retry-after", 504, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *fakeServer
			fs = newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				if fs.hits.Load() <= 2 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					writeGraphError(w, tt.status, "TooManyRequests", "slow down")
					return
				}
				w.Write([]byte(draftsJSON))
			})
			c := newTestClient(t, fs, nil, nil)
			ds, err := c.ListDrafts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].ID != "d1" || !ds[0].HasAttachments {
				t.Fatalf("drafts = %+v", ds)
			}
			if got := fs.hits.Load(); got != 3 {
				t.Fatalf("requests = %d, want 3", got)
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var fs *fakeServer
	fs = newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if fs.hits.Load() == 1 {
			w.Header().Set("Retry-After", "0.2")
			writeGraphError(w, 429, "ApplicationThrottled", "over")
			return
		}
		w.Write([]byte(draftsJSON))
	})
	c := newTestClient(t, fs, nil, nil)
	start := time.Now()
	if _, err := c.ListDrafts(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the client must not retry before Retry-After.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("retried after %v, before Retry-After 0.2", d)
	}
}

func TestRetryBounds(t *testing.T) {
	t.Run("max attempts", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeGraphError(w, 503, "ServiceUnavailable", "down")
		})
		c := newTestClient(t, fs, nil, func(c *Config) { c.MaxAttempts = 3 })
		_, err := c.ListDrafts(context.Background())
		var ge *Error
		if !errors.As(err, &ge) || ge.Status != 503 || !IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		if got := fs.hits.Load(); got != 3 {
			t.Fatalf("requests = %d, want 3", got)
		}
	})
	t.Run("retry-after beyond max retry time", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			writeGraphError(w, 429, "ApplicationThrottled", "over")
		})
		c := newTestClient(t, fs, nil, func(c *Config) { c.MaxRetryTime = time.Second })
		_, err := c.ListDrafts(context.Background())
		var ge *Error
		if !errors.As(err, &ge) || !IsThrottled(err) || ge.RetryAfter != 30*time.Second {
			t.Fatalf("err = %v (%+v)", err, ge)
		}
		if got := fs.hits.Load(); got != 1 {
			t.Fatalf("requests = %d, want 1 (no point waiting past MaxRetryTime)", got)
		}
	})
	t.Run("context cancelled while waiting", func(t *testing.T) {
		// The deadline must pass during the wait, not during the first request: a loaded
		// machine can take more than 50 ms to answer it, and then nothing was throttled yet.
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			writeGraphError(w, 429, "ApplicationThrottled", "over")
		})
		c := newTestClient(t, fs, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.ListDrafts(ctx)
		if fs.hits.Load() == 0 {
			t.Fatalf("no request reached the server within 2 s: %v", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !IsThrottled(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeGraphError(w, 404, CodeItemNotFound, "gone")
		})
		c := newTestClient(t, fs, nil, nil)
		_, err := c.GetDraft(context.Background(), "x")
		if !IsNotFound(err) || IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		if got := fs.hits.Load(); got != 1 {
			t.Fatalf("requests = %d, want 1", got)
		}
	})
}

func TestBackoffFullJitter(t *testing.T) {
	p := retryPolicy{baseBackoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for n := 1; n <= 10; n++ {
		ceil := min(100*time.Millisecond<<(n-1), time.Second)
		for range 50 {
			if d := p.backoff(n); d < 0 || d >= ceil {
				t.Fatalf("backoff(%d) = %v outside [0, %v)", n, d, ceil)
			}
		}
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Run("refresh fixes it", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer fresh-1" {
				writeGraphError(w, 401, "InvalidAuthenticationToken", "expired")
				return
			}
			w.Write([]byte(draftsJSON))
		})
		tokens := &countingTokens{tok: "stale", next: func(n int) string { return "fresh-" + string(rune('0'+n)) }}
		c := newTestClient(t, fs, tokens, nil)
		if _, err := c.ListDrafts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if tokens.refreshes != 1 || fs.hits.Load() != 2 {
			t.Fatalf("refreshes = %d, requests = %d; want 1, 2", tokens.refreshes, fs.hits.Load())
		}
	})
	t.Run("still refused", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeGraphError(w, 401, "InvalidAuthenticationToken", "no")
		})
		tokens := &countingTokens{tok: "bad"}
		c := newTestClient(t, fs, tokens, nil)
		_, err := c.ListDrafts(context.Background())
		if !IsUnauthorized(err) {
			t.Fatalf("err = %v", err)
		}
		if tokens.refreshes != 1 || fs.hits.Load() != 2 {
			t.Fatalf("refreshes = %d, requests = %d; want 1, 2", tokens.refreshes, fs.hits.Load())
		}
	})
}

// cutConn closes the request's connection without answering.
func cutConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestNetworkErrorRetries(t *testing.T) {
	t.Run("GET is retried", func(t *testing.T) {
		var fs *fakeServer
		fs = newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			if fs.hits.Load() == 1 {
				cutConn(w)
				return
			}
			w.Write([]byte(draftsJSON))
		})
		c := newTestClient(t, fs, nil, nil)
		if _, err := c.ListDrafts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if fs.hits.Load() != 2 {
			t.Fatalf("requests = %d, want 2", fs.hits.Load())
		}
	})
	t.Run("attachment POST is not", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { cutConn(w) })
		c := newTestClient(t, fs, nil, nil)
		_, err := c.AddSmallAttachment(context.Background(), ItemRef{ID: "m1"}, NewAttachment{Name: "a.txt"}, []byte("hi"))
		var ne *NetError
		if !errors.As(err, &ne) || !IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		if fs.hits.Load() != 1 {
			t.Fatalf("requests = %d, want 1: an attachment POST that may have landed must not be repeated", fs.hits.Load())
		}
	})
	t.Run("attachment POST retried on 429 and 503, not 504", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			want   int64
		}{{429, 2}, {503, 2}, {504, 1}} {
			var fs *fakeServer
			fs = newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				if fs.hits.Load() == 1 {
					w.Header().Set("Retry-After", "0")
					writeGraphError(w, tc.status, "x", "y")
					return
				}
				w.WriteHeader(201)
				w.Write([]byte(`{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"a.txt","size":180}`))
			})
			c := newTestClient(t, fs, nil, nil)
			_, err := c.AddSmallAttachment(context.Background(), ItemRef{ID: "m1"}, NewAttachment{Name: "a.txt"}, []byte("hi"))
			if fs.hits.Load() != tc.want {
				t.Fatalf("%d: requests = %d, want %d (err %v)", tc.status, fs.hits.Load(), tc.want, err)
			}
			if (tc.want == 2) != (err == nil) {
				t.Fatalf("%d: err = %v", tc.status, err)
			}
		}
	})
	t.Run("connection refused is retried for POST", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := New(Config{BaseURL: "https://" + addr + "/v1.0", Tokens: StaticToken("t"), MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		c.retry.baseBackoff = time.Millisecond
		_, err = c.CreateDraft(context.Background(), "x")
		if !errors.As(err, new(*NetError)) || !notSent(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNetErrorHidesQuery(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { cutConn(w) })
	c := newTestClient(t, fs, nil, func(c *Config) { c.MaxAttempts = 2 })
	s := UploadSession{URL: fs.URL + "/api/v2.0/Users('u')/Messages('m')/AttachmentSessions('sess-12345678')?authtoken=SECRETTOKEN"}
	err := c.CancelUpload(context.Background(), s)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "SECRETTOKEN") || strings.Contains(msg, "authtoken") || strings.Contains(msg, "Users(") {
		t.Fatalf("error text leaks the upload URL: %s", msg)
	}
	if !strings.Contains(msg, "upload session …12345678") {
		t.Fatalf("error text does not name the session: %s", msg)
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		header map[string]string
		want   Error
	}{
		{"innerError", `{"error":{"code":"ErrorItemNotFound","message":"not found","innerError":{"request-id":"r1"}}}`, nil,
			Error{Status: 404, Code: "ErrorItemNotFound", Message: "not found", RequestID: "r1"}},
		{"innererror", `{"error":{"code":"ErrorAccessDenied","message":"no","innererror":{"request-id":"r2"}}}`, nil,
			Error{Status: 404, Code: "ErrorAccessDenied", Message: "no", RequestID: "r2"}},
		{"header id", `{"error":{"code":"c","message":"m"}}`, map[string]string{"request-id": "r3"},
			Error{Status: 404, Code: "c", Message: "m", RequestID: "r3"}},
		{"text body", `Maximum request length exceeded`, map[string]string{"Content-Type": "text/plain"},
			Error{Status: 404, Message: "Maximum request length exceeded"}},
		{"html ignored", `<html>x</html>`, map[string]string{"Content-Type": "text/html; charset=utf-8"},
			Error{Status: 404, Message: "<html>x</html>"}},
		{"binary ignored", "\x00\x01", map[string]string{"Content-Type": "application/octet-stream"},
			Error{Status: 404}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(404)
				w.Write([]byte(tt.body))
			})
			c := newTestClient(t, fs, nil, nil)
			_, err := c.GetDraft(context.Background(), "m")
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v", err)
			}
			if ge.Status != tt.want.Status || ge.Code != tt.want.Code || ge.Message != tt.want.Message || ge.RequestID != tt.want.RequestID {
				t.Fatalf("got %+v, want %+v", *ge, tt.want)
			}
			if ge.Op != "get draft" || ge.Path != "/v1.0/me/messages/m" {
				t.Fatalf("op/path = %q %q", ge.Op, ge.Path)
			}
		})
	}
}

func TestTooLargePredicates(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&Error{Status: 413}, true},
		{&Error{Status: 400, Code: CodeMessageSizeExceeded}, true},
		{&Error{Status: 400, Code: "BadRequest", Message: "Maximum request length exceeded."}, true},
		{&Error{Status: 400, Code: "BadRequest", Message: "bad"}, false},
		{ErrTooLarge, true},
		{errors.New("x"), false},
	}
	for _, tt := range tests {
		if got := IsTooLarge(tt.err); got != tt.want {
			t.Errorf("IsTooLarge(%v) = %v", tt.err, got)
		}
	}
}
