package spool

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestUploadFaults uploads through the real graph client to the emulator
// while it misbehaves. Each case ends attached (exactly once, byte-identical)
// or failed with a reason a person can act on.
func TestUploadFaults(t *testing.T) {
	const large = 2*ChunkSize + 12345 // three PUTs
	for _, tc := range []struct {
		name string
		size int
		// setup runs before the file is written; during runs once the first
		// chunk is confirmed (while the second PUT is held up by a delay).
		setup  func(e *emu)
		during func(e *emu)
		fail   FailKind // "" = must end attached
		reason string
		check  func(t *testing.T, e *emu)
	}{
		{name: "connection cut mid-PUT", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Cut: true, CutAfter: 1 << 20})
		}},
		{name: "503 on a PUT", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Status: 503})
		}},
		{name: "429 with Retry-After on a PUT", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Status: 429, RetryAfter: "0.2"})
		}, check: func(t *testing.T, e *emu) { mustSeeStatus(t, e, 429) }},
		{name: "429 on createUploadSession", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "createUploadSession", Status: 429, RetryAfter: "0.1"})
		}, check: func(t *testing.T, e *emu) { mustSeeStatus(t, e, 429) }},
		{name: "final PUT applied, answer cut", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 3, ApplyThenFail: true, Cut: true})
		}},
		{name: "small POST applied, then 504", size: 5000, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", ApplyThenFail: true, Status: 504})
		}},
		{name: "session expired mid-upload", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Delay: 500 * time.Millisecond})
		}, during: func(e *emu) { e.srv.Emulator.ExpireSessions() },
			check: func(t *testing.T, e *emu) { mustCount(t, e, "POST", "createUploadSession", 2) }},
		{name: "token refreshed mid-upload", size: large, setup: func(e *emu) {
			e.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Delay: 300 * time.Millisecond})
		}, during: func(e *emu) { e.tokens.revoke() },
			check: func(t *testing.T, e *emu) {
				if e.tokens.count() < 1 {
					t.Fatal("the token was never refreshed")
				}
				mustSeeStatus(t, e, 401)
			}},
		{name: "message size exceeded", size: 3 * ChunkSize, setup: func(e *emu) {
			e.mb.SetMessageSizeLimit(2 * ChunkSize)
		}, fail: FailTooLarge, reason: "message size limit"},
		{name: "draft deleted", size: 100, setup: func(e *emu) {
			e.mb.DeleteItem(e.draft.ID)
		}, fail: FailNotFound, reason: "no longer exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmu(t, graphtest.Options{})
			s := openT(t, Options{Uploader: e.client})
			if tc.setup != nil {
				tc.setup(e)
			}
			data := randBytes(uint64(len(tc.name)), tc.size)
			f := writeFile(t, s, e.draft, "faulty.bin", data)
			if tc.during != nil {
				waitFor(t, 30*time.Second, "the first chunk to be confirmed", func() bool {
					m, _ := s.Get(f.ID())
					return m.Confirmed >= ChunkSize || m.State == StateAttached || m.State == StateFailed
				})
				tc.during(e)
			}
			m, err := waitDone(t, s, f.ID())
			if tc.fail == "" {
				if err != nil || m.State != StateAttached {
					t.Fatalf("Wait = %+v, %v; want attached", m, err)
				}
				e.mustHaveOnce(t, e.draft, "faulty.bin", data)
				if atts := e.mb.Attachments(e.draft.ID); len(atts) != 1 || atts[0].ID != m.AttachmentID {
					t.Fatalf("attachments %d, recorded id %s", len(atts), m.AttachmentID)
				}
			} else {
				var ue *UploadError
				if !errors.As(err, &ue) || ue.Kind != tc.fail || m.State != StateFailed {
					t.Fatalf("Wait = %+v, %v; want failed %s", m, err, tc.fail)
				}
				if !strings.Contains(ue.Reason, tc.reason) {
					t.Fatalf("reason %q does not mention %q", ue.Reason, tc.reason)
				}
				if tc.fail != FailNotFound && len(e.attachmentsNamed(e.draft, "faulty.bin")) != 0 {
					t.Fatal("a failed upload left an attachment")
				}
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func mustSeeStatus(t *testing.T, e *emu, status int) {
	t.Helper()
	for _, r := range e.srv.Emulator.Requests() {
		if r.Status == status {
			return
		}
	}
	t.Fatalf("the emulator never answered %d: the fault did not happen", status)
}

func mustCount(t *testing.T, e *emu, method, path string, want int) {
	t.Helper()
	n := 0
	for _, r := range e.srv.Emulator.Requests() {
		if r.Method == method && strings.Contains(r.Path, path) && r.Status < 300 {
			n++
		}
	}
	if n != want {
		t.Fatalf("%d successful %s %s, want %d", n, method, path, want)
	}
}

// TestSharedMailboxRefusesLargeUploads: a delegate's createUploadSession gets
// 403 on a shared mailbox; the failure says what to do about it.
func TestSharedMailboxRefusesLargeUploads(t *testing.T) {
	e := startEmu(t, graphtest.Options{})
	shared := e.srv.Emulator.AddMailbox("team@outlookfs.test")
	shared.SetShared(true)
	shared.ShareWith(testUPN)
	client, err := graph.New(graph.Config{
		BaseURL: e.srv.GraphURL, Mailbox: "team@outlookfs.test", Tokens: e.tokens, HTTPClient: e.srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	item := graph.ItemRef{Kind: graph.KindMessage, ID: shared.AddDraft("team draft")}
	s := openT(t, Options{Uploader: client})
	small := writeFile(t, s, item, "small.txt", []byte("fits in a POST"))
	big := writeFile(t, s, item, "big.bin", randBytes(1, graph.MinUploadSessionSize))
	if _, err := waitDone(t, s, small.ID()); err != nil {
		t.Fatalf("small file on a shared mailbox: %v", err)
	}
	_, err = waitDone(t, s, big.ID())
	var ue *UploadError
	if !errors.As(err, &ue) || ue.Kind != FailForbidden || !strings.Contains(ue.Reason, "shared") {
		t.Fatalf("large file on a shared mailbox: %v, want forbidden with a reason", err)
	}
}
