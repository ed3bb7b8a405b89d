package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUploadHost plays createUploadSession and the upload host for one item,
// with a script of faults per PUT (by 1-based PUT number).
type fakeUploadHost struct {
	t  *testing.T
	fs *fakeServer

	mu        sync.Mutex
	sessions  int
	total     int64
	got       []byte
	gone      bool
	done      bool
	puts      int
	statuses  int
	pascal    bool
	escapeLoc bool
	// fault decides what happens to PUT number n: "" normal, "apply-500"
	// (store then answer 500), "cut" (close before reading), "apply-cut" (store
	// then close), "404" (session gone), "416", "429", "partial" (store a third
	// of the range and answer 200 with where it stands).
	fault   func(n int) string
	authHdr []string // Authorization headers seen on the upload host
}

func newFakeUploadHost(t *testing.T) *fakeUploadHost {
	h := &fakeUploadHost{t: t}
	h.fs = newFakeServer(t, h.serve)
	return h
}

func (h *fakeUploadHost) sessionURL() string {
	return fmt.Sprintf("%s/api/v2.0/Users('u')/Messages('m')/AttachmentSessions('sess-%d')?authtoken=SECRET-AUTHTOKEN-%d", h.fs.URL, h.sessions, h.sessions)
}

func (h *fakeUploadHost) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/createUploadSession") {
		var body struct {
			AttachmentItem struct {
				Size int64 `json:"size"`
			} `json:"AttachmentItem"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := jsonUnmarshal(b, &body); err != nil {
			h.t.Errorf("createUploadSession body: %v", err)
		}
		h.sessions++
		h.total, h.got, h.gone, h.done = body.AttachmentItem.Size, nil, false, false
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"uploadUrl":%q,"expirationDateTime":"2030-01-01T00:00:00.1234567Z","nextExpectedRanges":["0-"]}`, h.sessionURL())
		return
	}
	if !strings.Contains(r.URL.Path, "AttachmentSessions") {
		h.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(500)
		return
	}
	if a := r.Header.Get("Authorization"); a != "" {
		h.authHdr = append(h.authHdr, a)
	}
	if r.URL.Query().Get("authtoken") != fmt.Sprintf("SECRET-AUTHTOKEN-%d", h.sessions) || h.gone || h.done {
		writeGraphError(w, 404, "itemNotFound", "no such session")
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.statuses++
		h.progress(w, 200)
		return
	case http.MethodDelete:
		h.gone = true
		w.WriteHeader(204)
		return
	}
	h.puts++
	fault := ""
	if h.fault != nil {
		fault = h.fault(h.puts)
	}
	switch fault {
	case "cut":
		cutConn(w)
		return
	case "404":
		h.gone = true
		writeGraphError(w, 404, "itemNotFound", "expired")
		return
	case "429":
		w.Header().Set("Retry-After", "0.01")
		writeGraphError(w, 429, "ApplicationThrottled", "slow")
		return
	}
	var first, last, total int64
	if _, err := fmt.Sscanf(r.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &total); err != nil || total != h.total {
		writeGraphError(w, 400, "invalidRequest", "bad Content-Range")
		return
	}
	if first != int64(len(h.got)) || fault == "416" {
		writeGraphError(w, 416, "invalidRange", "expected "+strconv.Itoa(len(h.got)))
		return
	}
	data, _ := io.ReadAll(r.Body)
	if int64(len(data)) != last-first+1 || len(data) > MaxRangeSize {
		writeGraphError(w, 400, "invalidRequest", "length")
		return
	}
	if fault == "partial" {
		data = data[:len(data)/3] // keeps a part and says so: the client goes on from there
	}
	h.got = append(h.got, data...)
	switch fault {
	case "apply-500":
		writeGraphError(w, 500, "InternalServerError", "oops")
		return
	case "apply-cut":
		if int64(len(h.got)) == h.total {
			h.done = true
		}
		cutConn(w)
		return
	}
	if int64(len(h.got)) == h.total {
		h.done = true
		loc := fmt.Sprintf("%s/api/v2.0/Users('u')/Messages('m')/Attachments('ATT%d+/=')", h.fs.URL, h.sessions)
		if h.escapeLoc {
			loc = strings.NewReplacer("'", "%27", "+", "%2B", "=", "%3D").Replace(loc)
		}
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(201)
		return
	}
	h.progress(w, 200)
}

func (h *fakeUploadHost) progress(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if h.pascal {
		fmt.Fprintf(w, `{"ExpirationDateTime":"2030-01-01T00:00:00Z","NextExpectedRanges":["%d"]}`, len(h.got))
		return
	}
	fmt.Fprintf(w, `{"expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":["%d-"]}`, len(h.got))
}

func testData(n int) []byte {
	b := make([]byte, n)
	seed := uint32(n)
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
	return b
}

func TestUploadSessionFake(t *testing.T) {
	const size = 2*MaxRangeSize + 12345
	tests := []struct {
		name     string
		fault    func(n int) string
		pascal   bool
		escape   bool
		wantErr  error
		sessions int
	}{
		{name: "clean camelCase", sessions: 1},
		{name: "clean PascalCase, escaped Location", pascal: true, escape: true, sessions: 1},
		{name: "apply then 500", fault: func(n int) string { return map[int]string{2: "apply-500"}[n] }, sessions: 1},
		{name: "cut before apply", fault: func(n int) string { return map[int]string{1: "cut"}[n] }, sessions: 1},
		{name: "apply then cut (middle)", fault: func(n int) string { return map[int]string{1: "apply-cut"}[n] }, sessions: 1},
		{name: "partial acceptance", fault: func(n int) string { return map[int]string{1: "partial", 3: "partial"}[n] }, sessions: 1},
		{name: "429", fault: func(n int) string { return map[int]string{1: "429", 2: "429"}[n] }, sessions: 1},
		{name: "session gone mid-upload", fault: func(n int) string { return map[int]string{2: "404"}[n] }, sessions: 2},
		{name: "apply then cut (final)", fault: func(n int) string { return map[int]string{3: "apply-cut"}[n] }, wantErr: ErrUploadOutcomeUnknown, sessions: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeUploadHost(t)
			h.fault, h.pascal, h.escapeLoc = tt.fault, tt.pascal, tt.escape
			var logs logBuffer
			c := newTestClient(t, h.fs, StaticToken("BEARER-SECRET"), func(c *Config) { c.Logger = debugLogger(&logs) })
			data := testData(size)
			var progress []int64
			var sessions []UploadSession
			id, err := c.Upload(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "big.bin", Size: size},
				bytes.NewReader(data), UploadOptions{
					Progress:  func(n int64) { progress = append(progress, n) },
					OnSession: func(s UploadSession) { sessions = append(sessions, s) },
				})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("ATT%d+/=", tt.sessions); id != want {
					t.Fatalf("id = %q, want %q", id, want)
				}
				if len(progress) == 0 || progress[len(progress)-1] != size {
					t.Fatalf("progress = %v", progress)
				}
			}
			if !bytes.Equal(h.got, data) {
				t.Fatalf("the host got %d bytes, different from the %d sent", len(h.got), len(data))
			}
			if h.sessions != tt.sessions || len(sessions) != tt.sessions {
				t.Fatalf("sessions = %d (OnSession %d), want %d", h.sessions, len(sessions), tt.sessions)
			}
			if len(h.authHdr) != 0 {
				t.Fatalf("Authorization sent to the upload host: %q", h.authHdr)
			}
			if l := logs.String(); strings.Contains(l, "SECRET") || strings.Contains(strings.ToLower(l), "authtoken") {
				t.Fatalf("log leaks a secret:\n%s", l)
			}
			if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "authtoken")) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestPutRangeOutOfAttemptsStillResolves: with no attempt left after an
// ambiguous final PUT, the client still asks the session, so the caller learns
// that the outcome is unknown rather than that a retry might help.
func TestPutRangeOutOfAttemptsStillResolves(t *testing.T) {
	const size = MaxRangeSize + 10
	for _, tc := range []struct {
		fault string
		want  error
	}{{"apply-cut", ErrUploadOutcomeUnknown}, {"cut", nil}} {
		h := newFakeUploadHost(t)
		h.fault = func(n int) string {
			if n == 2 {
				return tc.fault
			}
			return ""
		}
		c := newTestClient(t, h.fs, nil, func(c *Config) { c.MaxAttempts = 1 })
		_, err := c.Upload(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "x", Size: size}, bytes.NewReader(testData(size)), UploadOptions{})
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.fault, err, tc.want)
		}
		if tc.want == nil && (!errors.As(err, new(*NetError)) || errors.Is(err, ErrUploadOutcomeUnknown)) {
			t.Fatalf("%s: err = %v, want a NetError", tc.fault, err)
		}
	}
}

func TestResumeUploadFake(t *testing.T) {
	const size = MaxRangeSize + 777
	h := newFakeUploadHost(t)
	c := newTestClient(t, h.fs, nil, nil)
	data := testData(size)
	item := ItemRef{Kind: KindEvent, ID: "e"}
	s, err := c.CreateUploadSession(context.Background(), item, NewAttachment{Name: "x", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if s.Next != 0 || !s.Expires.Equal(time.Date(2030, 1, 1, 0, 0, 0, 123456700, time.UTC)) {
		t.Fatalf("session %+v", s)
	}
	res, err := c.PutRange(context.Background(), s, 0, data[:MaxRangeSize], size)
	if err != nil || res.Done || res.Next != MaxRangeSize {
		t.Fatalf("PutRange = %+v, %v", res, err)
	}
	// A process restart: only the session is known.
	var progress []int64
	id, err := c.ResumeUpload(context.Background(), UploadSession{URL: s.URL}, bytes.NewReader(data), size,
		UploadOptions{Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil || id != "ATT1+/=" {
		t.Fatalf("ResumeUpload = %q, %v", id, err)
	}
	if !bytes.Equal(h.got, data) || h.statuses != 1 {
		t.Fatalf("content equal %v, status requests %d", bytes.Equal(h.got, data), h.statuses)
	}
	if fmt.Sprint(progress) != fmt.Sprint([]int64{MaxRangeSize, size}) {
		t.Fatalf("progress %v", progress)
	}
	// The session is complete now: resuming it again says so.
	if _, err := c.ResumeUpload(context.Background(), s, bytes.NewReader(data), size, UploadOptions{}); !errors.Is(err, ErrUploadSessionGone) || !IsNotFound(err) {
		t.Fatalf("resume of a completed session: %v", err)
	}
	if err := c.CancelUpload(context.Background(), s); err != nil {
		t.Fatalf("cancel of a gone session: %v", err)
	}
}

func TestPutRangeInvalidRange(t *testing.T) {
	const size = MaxRangeSize + 5
	h := newFakeUploadHost(t)
	c := newTestClient(t, h.fs, nil, nil)
	data := testData(size)
	s, err := c.CreateUploadSession(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "x", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRange(context.Background(), s, 0, data[:MaxRangeSize], size); err != nil {
		t.Fatal(err)
	}
	// Sending the same range again (a caller unsure it landed) gets 416: the
	// client asks where the session stands and says so.
	res, err := c.PutRange(context.Background(), s, 0, data[:MaxRangeSize], size)
	if err != nil || res.Next != MaxRangeSize || res.Done {
		t.Fatalf("PutRange = %+v, %v", res, err)
	}
	// A 416 although the session expects this very offset is an error, not a loop.
	h.fault = func(int) string { return "416" }
	_, err = c.PutRange(context.Background(), s, MaxRangeSize, data[MaxRangeSize:], size)
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != 416 || ge.Code != CodeInvalidRange {
		t.Fatalf("err = %v", err)
	}
}

func TestPutRangeValidates(t *testing.T) {
	c, _ := New(Config{BaseURL: "https://h/v1.0", Tokens: StaticToken("t")})
	s := UploadSession{URL: "https://up/x"}
	for _, tc := range []struct {
		off   int64
		n     int
		total int64
	}{{0, 0, 10}, {0, MaxRangeSize + 1, MaxRangeSize + 5}, {-1, 1, 10}, {5, 6, 10}} {
		if _, err := c.PutRange(context.Background(), s, tc.off, make([]byte, tc.n), tc.total); err == nil {
			t.Errorf("PutRange(%d, %d bytes, %d) accepted", tc.off, tc.n, tc.total)
		}
	}
}

func TestUploadTooLargeBeforeAnyRequest(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { t.Errorf("request %s", r.URL) })
	c := newTestClient(t, fs, nil, nil)
	_, err := c.Upload(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "x", Size: MaxAttachmentSize + 1},
		bytes.NewReader(nil), UploadOptions{})
	if !errors.Is(err, ErrTooLarge) || !IsTooLarge(err) {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.CreateUploadSession(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "x", Size: MaxAttachmentSize + 1}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestUploadShortSource(t *testing.T) {
	h := newFakeUploadHost(t)
	c := newTestClient(t, h.fs, nil, nil)
	_, err := c.Upload(context.Background(), ItemRef{ID: "m"}, NewAttachment{Name: "x", Size: MinUploadSessionSize + 10},
		bytes.NewReader(make([]byte, MinUploadSessionSize)), UploadOptions{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestUploadURLChecks(t *testing.T) {
	c, _ := New(Config{BaseURL: "https://h/v1.0", Tokens: StaticToken("t")})
	for _, u := range []string{"", "/relative", "http://up/x?authtoken=1", "ftp://up/x"} {
		if err := c.checkUploadURL(u); err == nil {
			t.Errorf("accepted %q", u)
		} else if strings.Contains(err.Error(), "authtoken") {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
	if err := c.checkUploadURL("https://up/x?authtoken=1"); err != nil {
		t.Error(err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
