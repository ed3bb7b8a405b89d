package fs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestCloseErrno: each way Graph refuses an attachment reaches cp as the errno a person (and a
// script) expects, with a log line that says what to do, and nothing is attached. Graph does not
// document the status of ErrorQuotaExceeded, so every plausible one is tried.
func TestCloseErrno(t *testing.T) {
	cases := []struct {
		name    string
		size    int64
		faults  []graphtest.Fault
		during  func(h *harness, itemID string) // run while cp's upload is under way
		wantOut string                          // cp's error text (strerror)
		wantLog string                          // in the filesystem log
	}{
		{name: "quota 403 small", size: 10_000,
			faults:  []graphtest.Fault{{Host: "graph", Method: "POST", Path: "/attachments", Status: 403, Code: "ErrorQuotaExceeded", Count: -1}},
			wantOut: "Disk quota exceeded", wantLog: "mailbox is full"},
		{name: "quota 400 small", size: 10_000,
			faults:  []graphtest.Fault{{Host: "graph", Method: "POST", Path: "/attachments", Status: 400, Code: "ErrorQuotaExceeded", Count: -1}},
			wantOut: "Disk quota exceeded", wantLog: "mailbox is full"},
		{name: "quota 507 small", size: 10_000,
			faults:  []graphtest.Fault{{Host: "graph", Method: "POST", Path: "/attachments", Status: 507, Code: "ErrorQuotaExceeded", Count: -1}},
			wantOut: "Disk quota exceeded", wantLog: "mailbox is full"},
		{name: "quota on createUploadSession", size: 4 * mib,
			faults:  []graphtest.Fault{{Host: "graph", Method: "POST", Path: "/createUploadSession", Status: 403, Code: "ErrorQuotaExceeded", Count: -1}},
			wantOut: "Disk quota exceeded", wantLog: "mailbox is full"},
		{name: "quota part way through the PUTs", size: 9 * mib,
			faults:  []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Status: 400, Code: "ErrorQuotaExceeded", Count: -1}},
			wantOut: "Disk quota exceeded", wantLog: "mailbox is full"},
		{name: "message size part way through the PUTs", size: 9 * mib,
			faults:  []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Status: 400, Code: "ErrorMessageSizeExceeded", Count: -1}},
			wantOut: "File too large", wantLog: "message size limit"},
		{name: "forbidden upload session", size: 4 * mib,
			faults:  []graphtest.Fault{{Host: "graph", Method: "POST", Path: "/createUploadSession", Status: 403, Count: -1}},
			wantOut: "Permission denied", wantLog: "403"},
		{name: "draft deleted before a small copy", size: 10_000,
			during:  func(h *harness, itemID string) { h.mb.DeleteItem(itemID) },
			wantOut: "No such file or directory", wantLog: "no longer exists"},
		{name: "draft deleted during a large copy", size: 9 * mib,
			// the second PUT (of three) is held while the draft is deleted: the last PUT comes after
			faults:  []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Delay: 2 * time.Second}},
			during:  func(h *harness, itemID string) { h.waitFaultsHit(); h.mb.DeleteItem(itemID) },
			wantOut: "No such file or directory", wantLog: "no longer exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			id, dir := h.draft("Errno")
			h.must("ls", dir)
			for _, f := range tc.faults {
				h.srv.Emulator.Inject(f)
			}
			src, _ := writeSource(t, tc.size, 90)
			type result struct {
				out string
				err error
			}
			done := make(chan result, 1)
			if tc.during != nil && tc.faults == nil {
				tc.during(h, id) // before the copy
			}
			go func() {
				out, err := h.run("cp", src, filepath.Join(dir, "f.bin"))
				done <- result{out, err}
			}()
			if tc.during != nil && tc.faults != nil {
				tc.during(h, id)
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(90 * time.Second):
				t.Fatal("cp did not end within 90 s")
			}
			if r.err == nil || !strings.Contains(r.out, tc.wantOut) {
				t.Errorf("cp: err=%v %q, want %q", r.err, r.out, tc.wantOut)
			}
			if !strings.Contains(h.logs.String(), tc.wantLog) {
				t.Errorf("the log does not say %q:\n%s", tc.wantLog, h.logs.String())
			}
			if _, ok := h.mb.Item(id); ok {
				if n := len(h.mb.Attachments(id)); n != 0 {
					t.Errorf("%d attachment(s) after cp failed", n)
				}
			}
		})
	}
}

// TestCopyOutlivesItsUploadSession: the upload session expires while cp is under way, whether the
// upload host then answers 404 or 401 (its URL's authtoken expired: Graph documents neither).
// cp still succeeds through a new session, and the log never tells the user to sign in again.
func TestCopyOutlivesItsUploadSession(t *testing.T) {
	for _, status := range []int{404, 401} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t, harnessOptions{emu: graphtest.Options{ExpiredSessionStatus: status}})
			id, dir := h.draft("Expiry")
			h.must("ls", dir)
			// The second PUT (of three) is held; the session expires meanwhile, so that PUT
			// (or, should the test only get to expire it later, the third) meets the expiry.
			h.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Nth: 2, Delay: 2 * time.Second})
			src, data := writeSource(t, 9*mib, 91)
			done := make(chan error, 1)
			var out string
			go func() {
				var err error
				out, err = h.run("cp", src, filepath.Join(dir, "f.bin"))
				done <- err
			}()
			h.waitFaultsHit() // the second PUT is being held: the upload is under way
			h.srv.Emulator.ExpireSessions()
			if err := <-done; err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			h.wantAttachments(id, map[string][]byte{"f.bin": data})
			expired := 0
			for _, r := range h.srv.Emulator.Requests() {
				if r.Host == "upload" && r.Status == status {
					expired++
				}
			}
			if expired == 0 {
				t.Errorf("no upload request was answered %d: the session did not expire during the copy", status)
			}
			if strings.Contains(h.logs.String(), "login") {
				t.Errorf("the log tells the user to sign in again:\n%s", h.logs.String())
			}
		})
	}
}

// TestFailedCopyLeavesNothing: the POST of a small file is stored by Graph but answered 504, and
// the listing that would tell fails too: cp reports EIO, so the attachment Graph made after all
// must go (the spool keeps looking and deletes it) - a failed cp never leaves its file attached.
// The close gives up at the first retry (a sync retry window of 1 ms): with the default window
// the retry finds the attachment and cp succeeds (TestSyncCloseRetries).
func TestFailedCopyLeavesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{syncRetry: time.Millisecond})
	id, dir := h.draft("Landed")
	h.must("ls", dir)
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", ApplyThenFail: true, Status: 504})
	// The listings before the POST (which names are taken) and after it (did it land?): the second fails.
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "GET", Path: "/attachments", Nth: 2, Status: 403})
	src, _ := writeSource(t, 10_000, 92)
	out, err := h.run("cp", src, filepath.Join(dir, "f.bin"))
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Fatalf("cp: err=%v %q, want EIO", err, out)
	}
	// The log line comes once the DELETE returned, just after the mailbox changed.
	deadline := time.Now().Add(30 * time.Second)
	for len(h.mb.Attachments(id)) != 0 || !strings.Contains(h.logs.String(), "deleted f.bin") {
		if time.Now().After(deadline) {
			t.Fatalf("%d attachment(s) 30 s after cp failed (the log must say it deleted f.bin):\n%s",
				len(h.mb.Attachments(id)), h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRemoveRefused: Graph refuses to delete an attachment; rm fails with EACCES and the file is
// still there, whole and an ordinary file: listed, linked, readable, and it can be overwritten
// right away.
func TestRemoveRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Keep")
	src, _ := writeSource(t, 5000, 93)
	p := filepath.Join(dir, "k.bin")
	h.must("cp", src, p)
	h.must("cat", p) // a node the kernel keeps, as after any use of the file
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "DELETE", Path: "/attachments/", Status: 403, Count: -1})
	if out, err := h.run("rm", p); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("rm: err=%v %q, want EACCES", err, out)
	}
	h.srv.Emulator.Reset()
	src2, data2 := writeSource(t, 6000, 94)
	h.must("cp", src2, p) // within the kernel's caches: the same node as the refused rm's
	h.wantAttachments(id, map[string][]byte{"k.bin": data2})
	if out := h.must("stat", "-c", "%h %s", p); strings.TrimSpace(out) != fmt.Sprintf("1 %d", len(data2)) {
		t.Errorf("stat: %q, want 1 link and %d bytes", out, len(data2))
	}
	if got := h.must("cat", p); got != string(data2) {
		t.Errorf("cat read %d bytes that differ", len(got))
	}
}
