package graph

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestEmulatorGuesses puts the client through the emulator's settings for
// behaviours graph-protocol.md marks [guess].
func TestEmulatorGuesses(t *testing.T) {
	const big = MaxRangeSize + 4321
	t.Run("PascalCase upload host", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{KeySpelling: graphtest.PascalCase}, nil)
		var progress []int64
		if _, err := x.uploadAndCheck(t, big, UploadOptions{Progress: func(n int64) { progress = append(progress, n) }}); err != nil {
			t.Fatal(err)
		}
		if len(progress) != 2 || progress[0] != MaxRangeSize || progress[1] != big {
			t.Fatalf("progress %v", progress)
		}
	})
	t.Run("request limit counted decompressed, 413", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{RequestLimitDecoded: true}, nil)
		item, err := x.uploadAndCheck(t, MinUploadSessionSize-1, UploadOptions{})
		if !IsTooLarge(err) || IsTransient(err) {
			t.Fatalf("3 MiB - 1 when the limit counts decoded bytes: %v", err)
		}
		if len(x.mb.Attachments(item.ID)) != 0 {
			t.Fatal("attached anyway")
		}
		// Files whose JSON fits are unaffected.
		if _, err := x.uploadAndCheck(t, 2<<20, UploadOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	// Every answer Graph has been seen to give a body over its limit is "too large": never
	// transient, never sent again.
	for _, tc := range []struct {
		name string
		opts graphtest.Options
	}{
		{"400 Maximum request length exceeded", graphtest.Options{RequestLimitStatus: 400}},
		{"400 The maximum request length supported is 4MB", graphtest.Options{RequestLimitStatus: 400, RequestLimitMessage: "The maximum request length supported is 4MB."}},
		{"413", graphtest.Options{RequestLimitStatus: 413}},
		{"empty 500", graphtest.Options{RequestLimitStatus: 500}},
	} {
		t.Run("request limit answered "+tc.name, func(t *testing.T) {
			tc.opts.RequestLimitDecoded = true
			x := startEmu(t, tc.opts, nil)
			_, err := x.uploadAndCheck(t, MinUploadSessionSize-1, UploadOptions{})
			var ge *Error
			if !IsTooLarge(err) || IsTransient(err) || !errors.As(err, &ge) || ge.Status != tc.opts.RequestLimitStatus {
				t.Fatalf("err = %v (too large %v, transient %v)", err, IsTooLarge(err), IsTransient(err))
			}
			posts := 0
			for _, r := range x.requestsUntil(func(rs []graphtest.RequestRecord) bool { return len(rs) > 0 }) {
				if r.Method == "POST" && strings.HasSuffix(r.Path, "/attachments") {
					posts++
				}
			}
			if posts != 1 {
				t.Fatalf("%d POSTs, want 1: a body over the limit was sent again", posts)
			}
		})
	}
	t.Run("a 500 to a small body stays a server fault", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 500, Message: " "})
		_, err := x.uploadAndCheck(t, 1000, UploadOptions{})
		if IsTooLarge(err) {
			t.Fatalf("err = %v: a small body's 500 taken as too large", err)
		}
	})
	t.Run("session for under 3 MiB refused", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		_, err := x.c.CreateUploadSession(context.Background(), ItemRef{ID: x.mb.AddDraft("s")}, NewAttachment{Name: "s", Size: MinUploadSessionSize - 1})
		var ge *Error
		if !errors.As(err, &ge) || ge.Code != CodeTooSmall {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("short session lifetime", func(t *testing.T) {
		// Checked against the time of the call, not the time of the check: a loaded machine
		// can take longer than a 1 s lifetime to answer (the session had then rightly expired
		// already). 1 s of slack either side for the timestamp's precision.
		const lifetime = 30 * time.Second // the default is 15 minutes
		x := startEmu(t, graphtest.Options{SessionLifetime: lifetime}, nil)
		before := time.Now()
		s, err := x.c.CreateUploadSession(context.Background(), ItemRef{ID: x.mb.AddDraft("s")}, NewAttachment{Name: "s", Size: big})
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if s.Expires.Before(before.Add(lifetime-time.Second)) || s.Expires.After(after.Add(lifetime+time.Second)) {
			t.Fatalf("expires at %v, want %v after the call (made between %v and %v)", s.Expires, lifetime, before, after)
		}
	})
}

// TestEmulatorLogsHaveNoSecrets runs uploads through every kind of fault with
// debug logging on and checks that no log line and no error holds a bearer
// token, an upload URL's query or the URL itself.
func TestEmulatorLogsHaveNoSecrets(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, func(c *Config) { c.MaxAttempts = 4 })
	var mu sync.Mutex
	var sessionURLs []string
	var issued []string
	x.tokens.next = func(int) string {
		tok := x.e.IssueToken(testUPN, time.Hour)
		mu.Lock()
		issued = append(issued, tok)
		mu.Unlock()
		return tok
	}
	onSession := func(s UploadSession) {
		mu.Lock()
		sessionURLs = append(sessionURLs, s.URL)
		mu.Unlock()
	}
	const big = 2*MaxRangeSize + 99
	put := graphtest.Fault{Host: "upload", Method: "PUT"}
	with := func(f graphtest.Fault, mut func(*graphtest.Fault)) graphtest.Fault { mut(&f); return f }
	x.e.Inject(with(put, func(f *graphtest.Fault) { f.Nth, f.Status, f.RetryAfter = 1, 429, "0.01" }))
	x.e.Inject(with(put, func(f *graphtest.Fault) { f.Nth, f.Cut, f.CutAfter = 3, true, 1000 }))
	x.e.Inject(with(put, func(f *graphtest.Fault) { f.Nth, f.ApplyThenFail, f.Status = 5, true, 500 }))
	x.e.Inject(graphtest.Fault{Host: "upload", Method: "GET", Nth: 1, Status: 503, RetryAfter: "0"})
	x.e.RevokeToken(x.mb.Token())

	var errs []error
	var once sync.Once
	if _, err := x.uploadAndCheck(t, big, UploadOptions{OnSession: onSession, Progress: func(n int64) {
		if n >= MaxRangeSize {
			once.Do(x.e.ExpireSessions) // the next range finds its session expired
		}
	}}); err != nil {
		t.Fatal(err)
	}
	// Failures that reach the caller.
	x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Status: 503, RetryAfter: "0.01", Count: -1})
	_, err := x.uploadAndCheck(t, big, UploadOptions{OnSession: onSession})
	errs = append(errs, err)
	x.e.Reset()
	x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 3, ApplyThenFail: true, Cut: true})
	_, err = x.uploadAndCheck(t, big, UploadOptions{OnSession: onSession})
	errs = append(errs, err)
	x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Cut: true, Count: -1})
	_, err = x.uploadAndCheck(t, big, UploadOptions{OnSession: onSession})
	errs = append(errs, err)
	for _, s := range sessionURLs {
		errs = append(errs, x.c.CancelUpload(context.Background(), UploadSession{URL: s}))
		_, err := x.c.UploadStatus(context.Background(), UploadSession{URL: s})
		errs = append(errs, err)
	}

	if len(sessionURLs) < 4 || len(issued) == 0 {
		t.Fatalf("sessions %d, tokens issued %d: the scenario did not run", len(sessionURLs), len(issued))
	}
	secrets := append([]string{x.mb.Token()}, issued...)
	for _, s := range sessionURLs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s, u.RawQuery, u.Query().Get("authtoken"))
	}
	var texts []string
	texts = append(texts, x.logs.String())
	for _, err := range errs {
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	if len(texts) < 4 {
		t.Fatalf("only %d errors came back", len(texts)-1)
	}
	for _, text := range texts {
		lower := strings.ToLower(text)
		if strings.Contains(lower, "authtoken") || strings.Contains(lower, "bearer") {
			t.Fatalf("secret-looking text:\n%s", text)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Fatalf("a secret (%d chars) appears in:\n%s", len(s), text)
			}
		}
	}
	if testing.Verbose() {
		t.Log(texts[0])
	}
	if !strings.Contains(texts[0], "upload session …") || !strings.Contains(texts[0], "status=429") {
		t.Fatalf("the log lacks the expected lines:\n%s", texts[0])
	}
}
