package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// uploadAndCheck uploads size bytes to a new draft and checks them through
// $value. It returns the upload's error; failed checks are reported with
// t.Errorf (it runs in goroutines too).
func (x *emu) uploadAndCheck(t *testing.T, size int, opts UploadOptions) (ItemRef, error) {
	t.Helper()
	item := ItemRef{ID: x.mb.AddDraft("faults")}
	data := testData(size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := x.c.Upload(ctx, item, NewAttachment{Name: "f.bin", Size: int64(size)}, bytes.NewReader(data), opts)
	if err != nil {
		return item, err
	}
	if b, err := fetch(x.c, item, id); err != nil || !bytes.Equal(b, data) {
		t.Errorf("content differs: %d bytes back of %d (%v)", len(b), size, err)
	}
	if n := len(x.mb.Attachments(item.ID)); n != 1 {
		t.Errorf("%d attachments, want 1", n)
	}
	return item, nil
}

func TestEmulatorFaultsRecovered(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat)
	const big = 2*MaxRangeSize + 1000 // three PUTs
	put := func(f graphtest.Fault) graphtest.Fault { f.Host, f.Method = "upload", "PUT"; return f }
	tests := []struct {
		name  string
		size  int
		fault graphtest.Fault
	}{
		{"429 integer on PUT", big, put(graphtest.Fault{Nth: 2, Status: 429, RetryAfter: "0"})},
		{"429 fractional on PUT", big, put(graphtest.Fault{Nth: 2, Status: 429, RetryAfter: "0.05"})},
		{"429 date on PUT", big, put(graphtest.Fault{Nth: 2, Status: 429, RetryAfter: past})},
		{"503 fractional on PUT", big, put(graphtest.Fault{Nth: 1, Status: 503, RetryAfter: "0.05", Count: 2})},
		{"503 without Retry-After on PUT", big, put(graphtest.Fault{Nth: 3, Status: 503})},
		{"504 on PUT", big, put(graphtest.Fault{Nth: 2, Status: 504})},
		{"500 on PUT", big, put(graphtest.Fault{Nth: 2, Status: 500})},
		{"cut mid-PUT", big, put(graphtest.Fault{Nth: 2, Cut: true, CutAfter: 100000})},
		{"cut final PUT before apply", big, put(graphtest.Fault{Nth: 3, Cut: true, CutAfter: 10})},
		{"apply then 500 on PUT", big, put(graphtest.Fault{Nth: 1, ApplyThenFail: true, Status: 500})},
		{"apply then cut on PUT", big, put(graphtest.Fault{Nth: 2, ApplyThenFail: true, Cut: true})},
		{"delay on PUT", big, put(graphtest.Fault{Nth: 2, Delay: 100 * time.Millisecond})},
		{"429 on createUploadSession", big, graphtest.Fault{Host: "graph", Method: "POST", Path: "createUploadSession", Status: 429, RetryAfter: "0.05"}},
		{"503 on createUploadSession", big, graphtest.Fault{Host: "graph", Method: "POST", Path: "createUploadSession", Status: 503, RetryAfter: past}},
		{"504 on createUploadSession", big, graphtest.Fault{Host: "graph", Method: "POST", Path: "createUploadSession", Status: 504}},
		{"cut createUploadSession", big, graphtest.Fault{Host: "graph", Method: "POST", Path: "createUploadSession", Cut: true}},
		{"429 on small POST", 1000, graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 429, RetryAfter: "0.05"}},
		{"503 on small POST", 1000, graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 503, RetryAfter: "0"}},
		{"429 on $value", big, graphtest.Fault{Host: "graph", Method: "GET", Path: "$value", Status: 429, RetryAfter: "0.05"}},
		{"504 on $value", big, graphtest.Fault{Host: "graph", Method: "GET", Path: "$value", Status: 504}},
		{"cut on $value", big, graphtest.Fault{Host: "graph", Method: "GET", Path: "$value", Cut: true}},
		{"status GET fails too", big, graphtest.Fault{Host: "upload", Method: "GET", Status: 503, RetryAfter: "0.01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := startEmu(t, graphtest.Options{}, nil)
			if tt.name == "status GET fails too" {
				x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Cut: true})
			}
			x.e.Inject(tt.fault)
			if _, err := x.uploadAndCheck(t, tt.size, UploadOptions{}); err != nil {
				t.Fatal(err)
			}
			hit := func(rs []graphtest.RequestRecord) bool {
				return slices.ContainsFunc(rs, func(r graphtest.RequestRecord) bool { return r.Fault != "" })
			}
			if !hit(x.requestsUntil(hit)) {
				t.Fatal("the fault never fired")
			}
			x.assertNoSecrets(t)
		})
	}
}

func TestEmulatorFaultsReported(t *testing.T) {
	const big = 2*MaxRangeSize + 1000
	t.Run("cut mid small POST", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Cut: true, CutAfter: 100})
		item, err := x.uploadAndCheck(t, 5000, UploadOptions{})
		var ne *NetError
		if !errors.As(err, &ne) || !IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		if n := len(x.mb.Attachments(item.ID)); n != 0 {
			t.Fatalf("%d attachments after a cut POST", n)
		}
	})
	t.Run("504 on small POST is not repeated", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 504, ApplyThenFail: true})
		item, err := x.uploadAndCheck(t, 5000, UploadOptions{})
		if !IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		if n := len(x.mb.Attachments(item.ID)); n != 1 {
			t.Fatalf("%d attachments, want the 1 the ambiguous POST made (and no duplicate)", n)
		}
	})
	t.Run("apply then cut on final PUT", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 3, ApplyThenFail: true, Cut: true})
		item, err := x.uploadAndCheck(t, big, UploadOptions{})
		if !errors.Is(err, ErrUploadOutcomeUnknown) {
			t.Fatalf("err = %v", err)
		}
		as, lerr := x.c.ListAttachments(context.Background(), item)
		if lerr != nil || len(as) != 1 {
			t.Fatalf("the attachment the caller must find: %+v, %v", as, lerr)
		}
		if !bytes.Equal(download(t, x.c, item, as[0].ID), testData(big)) {
			t.Fatal("content differs")
		}
		x.assertNoSecrets(t)
	})
	t.Run("throttled beyond MaxRetryTime", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, func(c *Config) { c.MaxRetryTime = 500 * time.Millisecond })
		x.e.Inject(graphtest.Fault{Host: "graph", Method: "GET", Status: 429, RetryAfter: "10", Count: -1})
		_, err := x.c.ListDrafts(context.Background())
		var ge *Error
		if !IsThrottled(err) || !errors.As(err, &ge) || ge.RetryAfter != 10*time.Second {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("503 forever", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, func(c *Config) { c.MaxAttempts = 3 })
		x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Status: 503, RetryAfter: "0.01", Count: -1})
		_, err := x.uploadAndCheck(t, big, UploadOptions{})
		if !IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("delay past the deadline", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "graph", Method: "GET", Delay: 2 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := x.c.ListDrafts(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mailbox full as a 507 on a PUT is not retried", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		x.e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Status: 507, Code: CodeQuotaExceeded, Count: -1})
		_, err := x.uploadAndCheck(t, big, UploadOptions{})
		if !IsQuotaExceeded(err) || IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
		puts := 0
		for _, r := range x.e.Requests() {
			if r.Host == "upload" && r.Method == "PUT" {
				puts++
			}
		}
		if puts != 2 {
			t.Errorf("%d PUTs, want 2: a full mailbox is not retried", puts)
		}
	})
	t.Run("403 on createUploadSession for a shared mailbox", func(t *testing.T) {
		x := startEmu(t, graphtest.Options{}, nil)
		shared := x.e.AddMailbox("shared@outlookfs.test")
		shared.ShareWith(testUPN)
		c, _ := New(Config{BaseURL: x.srv.GraphURL, Mailbox: "shared@outlookfs.test", Tokens: StaticToken(x.mb.Token()), HTTPClient: x.srv.HTTPClient()})
		item := ItemRef{ID: shared.AddDraft("shared")}
		_, err := c.Upload(context.Background(), item, NewAttachment{Name: "x", Size: big}, bytes.NewReader(testData(big)), UploadOptions{})
		if !IsForbidden(err) {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.Upload(context.Background(), item, NewAttachment{Name: "x", Size: 10}, bytes.NewReader(testData(10)), UploadOptions{}); err != nil {
			t.Fatalf("small POST on a shared mailbox: %v", err)
		}
	})
}

// Graph documents neither how an expired upload session answers nor what its URL's authtoken
// does when it expires: the client must start a new session after a 404 and after a 401 alike
// (a 401 from the upload host is about its URL, never about the user's sign-in).
func TestEmulatorSessionExpiry(t *testing.T) {
	for _, status := range []int{404, 401} {
		t.Run(fmt.Sprint(status), func(t *testing.T) { testSessionExpiry(t, status) })
	}
}

func testSessionExpiry(t *testing.T, status int) {
	const size = 3*MaxRangeSize + 10
	opts := graphtest.Options{ExpiredSessionStatus: status}
	t.Run("Upload starts a new session", func(t *testing.T) {
		x := startEmu(t, opts, nil)
		var once sync.Once
		var sessions int
		_, err := x.uploadAndCheck(t, size, UploadOptions{
			Progress:  func(n int64) { once.Do(x.e.ExpireSessions) },
			OnSession: func(UploadSession) { sessions++ },
		})
		if err != nil {
			t.Fatal(err)
		}
		if sessions != 2 {
			t.Fatalf("sessions = %d, want 2", sessions)
		}
	})
	t.Run("ResumeUpload reports it", func(t *testing.T) {
		x := startEmu(t, opts, nil)
		item := ItemRef{ID: x.mb.AddDraft("resume")}
		data := testData(size)
		s, err := x.c.CreateUploadSession(context.Background(), item, NewAttachment{Name: "r", Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.c.PutRange(context.Background(), s, 0, data[:MaxRangeSize], size); err != nil {
			t.Fatal(err)
		}
		// Resume works while the session lives...
		ctx, cancel := context.WithCancel(context.Background())
		var confirmed []int64
		_, err = x.c.ResumeUpload(ctx, s, bytes.NewReader(data), size, UploadOptions{Progress: func(n int64) {
			confirmed = append(confirmed, n)
			if n == 2*MaxRangeSize {
				cancel() // a crash after the second range
			}
		}})
		if !errors.Is(err, context.Canceled) || confirmed[0] != MaxRangeSize {
			t.Fatalf("err = %v, confirmed %v", err, confirmed)
		}
		st, err := x.c.UploadStatus(context.Background(), s)
		if err != nil || st.Next < 2*MaxRangeSize {
			t.Fatalf("status = %+v, %v", st, err)
		}
		// ...and after expiry says so.
		x.e.ExpireSessions()
		_, err = x.c.ResumeUpload(context.Background(), s, bytes.NewReader(data), size, UploadOptions{})
		if !errors.Is(err, ErrUploadSessionGone) || IsUnauthorized(err) || (status == 404 && !IsNotFound(err)) {
			t.Fatalf("err = %v", err)
		}
		if err := x.c.CancelUpload(context.Background(), s); err != nil {
			t.Fatalf("cancel of an expired session: %v", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		x := startEmu(t, opts, nil)
		item := ItemRef{ID: x.mb.AddDraft("cancel")}
		s, err := x.c.CreateUploadSession(context.Background(), item, NewAttachment{Name: "c", Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.c.CancelUpload(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if _, err := x.c.UploadStatus(context.Background(), s); !errors.Is(err, ErrUploadSessionGone) {
			t.Fatalf("status after cancel: %v", err)
		}
	})
}

func TestEmulatorUnauthorizedRefresh(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	x.e.RevokeToken(x.mb.Token())
	const size = MaxRangeSize + 10
	if _, err := x.uploadAndCheck(t, size, UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if x.tokens.refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", x.tokens.refreshes)
	}
	// A token that stays refused: one refresh per request, then IsUnauthorized.
	x.tokens.next = func(int) string { return "not-a-token" }
	x.e.RevokeToken(x.tokens.tok)
	_, err := x.c.ListDrafts(context.Background())
	if !IsUnauthorized(err) || x.tokens.refreshes != 2 {
		t.Fatalf("err = %v, refreshes %d", err, x.tokens.refreshes)
	}
	x.assertNoSecrets(t)
}

func TestEmulatorConcurrency(t *testing.T) {
	x := startEmu(t, graphtest.Options{MaxConcurrent: 100}, nil)
	ctx := context.Background()
	for range 30 {
		x.mb.AddDraft("x")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g := range 20 {
		wg.Go(func() {
			var err error
			switch g % 3 {
			case 0:
				_, err = x.uploadAndCheck(t, MinUploadSessionSize+g*1000, UploadOptions{})
			case 1:
				_, err = x.uploadAndCheck(t, 2000+g, UploadOptions{})
			default:
				_, err = x.c.ListDrafts(ctx)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := x.e.MaxInFlight(testUPN); n > DefaultMaxInFlight || n < 2 {
		t.Fatalf("the emulator saw %d concurrent requests, want 2..%d", n, DefaultMaxInFlight)
	}
}

// TestEmulatorConcurrencyDefaultLimit runs the same hammer against the
// emulator's realistic limit of 4: nothing is throttled.
func TestEmulatorConcurrencyDefaultLimit(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			if _, err := x.uploadAndCheck(t, 1000+g, UploadOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := x.e.Throttled(testUPN); n != 0 {
		t.Fatalf("%d requests throttled for concurrency", n)
	}
}

// assertNoSecrets checks every log line written so far.
func (x *emu) assertNoSecrets(t *testing.T) {
	t.Helper()
	logs := x.logs.String()
	if !strings.Contains(logs, "graph request") {
		t.Fatal("no debug log lines were written")
	}
	lower := strings.ToLower(logs)
	if strings.Contains(lower, "authtoken") {
		t.Fatalf("a log line has an upload URL's authtoken:\n%s", logs)
	}
	for _, tok := range []string{x.mb.Token(), x.tokens.tok} {
		if tok != "" && strings.Contains(logs, tok) {
			t.Fatalf("a log line has a bearer token")
		}
	}
	if strings.Contains(lower, "bearer") {
		t.Fatalf("a log line mentions a bearer token:\n%s", logs)
	}
}

// TestStatusGETIsAdvice runs the upload paths against each answer an upload host may give to
// GET {uploadUrl}, which Outlook does not document: 200 with where the session stands, or 404
// or 405 to every such GET. A failed PUT must then be resolved by sending the range again,
// never by a permanent failure nor a new session from byte 0, and a final range that landed
// without an answer must come back as ErrUploadOutcomeUnknown, attached once.
func TestStatusGETIsAdvice(t *testing.T) {
	const big = 2*MaxRangeSize + 1000 // three PUTs
	put := func(f graphtest.Fault) graphtest.Fault { f.Host, f.Method = "upload", "PUT"; return f }
	tests := []struct {
		name        string
		fault       graphtest.Fault
		wantUnknown bool // the final range landed unanswered
	}{
		{"503 on a middle PUT", put(graphtest.Fault{Nth: 2, Status: 503}), false},
		{"500 on a middle PUT", put(graphtest.Fault{Nth: 2, Status: 500}), false},
		{"cut mid-PUT", put(graphtest.Fault{Nth: 2, Cut: true, CutAfter: 100000}), false},
		{"apply then 500 on a middle PUT", put(graphtest.Fault{Nth: 2, ApplyThenFail: true, Status: 500}), false},
		{"apply then cut on the first PUT", put(graphtest.Fault{Nth: 1, ApplyThenFail: true, Cut: true}), false},
		{"apply then cut on the final PUT", put(graphtest.Fault{Nth: 3, ApplyThenFail: true, Cut: true}), true},
		{"504 on the final PUT before apply", put(graphtest.Fault{Nth: 3, Status: 504}), false},
	}
	for _, status := range []int{http.StatusOK, http.StatusNotFound, http.StatusMethodNotAllowed} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("GET %d/%s", status, tt.name), func(t *testing.T) {
				x := startEmu(t, graphtest.Options{StatusGET: status}, nil)
				x.e.Inject(tt.fault)
				item := ItemRef{ID: x.mb.AddDraft("advice")}
				data := testData(big)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				id, err := x.c.Upload(ctx, item, NewAttachment{Name: "f.bin", Size: big}, bytes.NewReader(data), UploadOptions{})
				switch {
				case tt.wantUnknown && !errors.Is(err, ErrUploadOutcomeUnknown):
					t.Fatalf("err = %v, want ErrUploadOutcomeUnknown", err)
				case !tt.wantUnknown && err != nil:
					t.Fatalf("upload: %v", err)
				}
				atts := x.mb.Attachments(item.ID)
				if len(atts) != 1 {
					t.Fatalf("%d attachments, want 1", len(atts))
				}
				if id == "" {
					id = atts[0].ID
				}
				if b, err := fetch(x.c, item, id); err != nil || !bytes.Equal(b, data) {
					t.Fatalf("content differs: %d bytes back of %d (%v)", len(b), big, err)
				}
				rs := x.requestsUntil(func(rs []graphtest.RequestRecord) bool {
					return slices.ContainsFunc(rs, func(r graphtest.RequestRecord) bool { return r.Fault != "" })
				})
				sessions := 0
				for _, r := range rs {
					if strings.HasSuffix(r.Path, "/createUploadSession") {
						sessions++
					}
				}
				if sessions != 1 {
					t.Errorf("%d upload sessions, want 1 (a failed PUT restarted the upload)", sessions)
				}
				x.assertNoSecrets(t)
			})
		}
	}
}

// TestUploadStatusErrors pins what UploadStatus says for each answer to its GET.
func TestUploadStatusErrors(t *testing.T) {
	for _, tt := range []struct {
		status      int
		gone, unkwn bool
	}{
		{http.StatusOK, false, false},
		{http.StatusNotFound, true, false},
		{http.StatusMethodNotAllowed, false, true},
	} {
		x := startEmu(t, graphtest.Options{StatusGET: tt.status}, nil)
		item := ItemRef{ID: x.mb.AddDraft("status")}
		s, err := x.c.CreateUploadSession(context.Background(), item, NewAttachment{Name: "s", Size: MaxRangeSize + 1})
		if err != nil {
			t.Fatal(err)
		}
		st, err := x.c.UploadStatus(context.Background(), s)
		if errors.Is(err, ErrUploadSessionGone) != tt.gone || errors.Is(err, ErrUploadStatusUnknown) != tt.unkwn {
			t.Errorf("GET %d: status %+v, err %v", tt.status, st, err)
		}
		if tt.status == http.StatusOK && (err != nil || st.Next != 0) {
			t.Errorf("GET 200: status %+v, err %v", st, err)
		}
	}
}

// TestFinalPUTAnsweredWithJSON: a final range answered 200 with the attachment's JSON and no
// Location is attached, with that id (Microsoft's JS SDK reads such an answer so).
func TestFinalPUTAnsweredWithJSON(t *testing.T) {
	x := startEmu(t, graphtest.Options{FinalPUTJSON: true}, nil)
	const size = MaxRangeSize + 1000
	item, err := x.uploadAndCheck(t, size, UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	atts := x.mb.Attachments(item.ID)
	if len(atts) != 1 {
		t.Fatalf("%d attachments", len(atts))
	}
}

// TestMessageSizeLimitCountsSessionsTogether: two upload sessions of one draft running together
// cannot both land past the message size limit (each was checked alone before).
func TestMessageSizeLimitCountsSessionsTogether(t *testing.T) {
	const size = 5 * MaxRangeSize // 20 MiB each, 40 MiB together, under a 35 MiB limit
	x := startEmu(t, graphtest.Options{MessageSizeLimit: 35 << 20}, nil)
	item := ItemRef{ID: x.mb.AddDraft("two at once")}
	data := testData(size)
	ctx := context.Background()
	var sess [2]UploadSession
	for i := range sess {
		s, err := x.c.CreateUploadSession(ctx, item, NewAttachment{Name: fmt.Sprintf("f%d.bin", i), Size: size})
		if err != nil {
			t.Fatal(err)
		}
		sess[i] = s
	}
	var refused int
	done := [2]bool{}
	for off := int64(0); off < size; off += MaxRangeSize {
		for i := range sess {
			if done[i] {
				continue
			}
			_, err := x.c.PutRange(ctx, sess[i], off, data[off:off+MaxRangeSize], size)
			if err != nil {
				if !IsTooLarge(err) {
					t.Fatalf("session %d at %d: %v", i, off, err)
				}
				refused++
				done[i] = true
				if err := x.c.CancelUpload(ctx, sess[i]); err != nil { // as the spool does
					t.Fatal(err)
				}
			}
		}
	}
	// The first session's final range finds the second one holding 16 MiB: 36 MiB in all.
	var names []string
	for _, a := range x.mb.Attachments(item.ID) {
		names = append(names, a.Name)
	}
	if len(names) != 1 || refused != 1 || names[0] != "f1.bin" {
		t.Fatalf("attachments %v and %d sessions refused, want f1.bin alone and 1", names, refused)
	}
}
