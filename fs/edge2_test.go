package fs

// Edge cases of the network side: --async progress in the xattr, a slow link, failed uploads, and
// the server answering with errors.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
	"github.com/outlookfs/outlookfs/spool"
)

func (h *harness) state(p string) string {
	h.t.Helper()
	out, err := h.run("getfattr", "--absolute-names", "--only-values", "-n", xattrState, p)
	if err != nil {
		return "error: " + strings.TrimSpace(out)
	}
	return strings.TrimSpace(out)
}

// spoolID finds the spool file of a name in an item.
func (h *harness) spoolID(itemID, name string) string {
	for _, m := range h.spool.All() {
		if m.Item.ID == itemID && m.Name == name {
			return m.ID
		}
	}
	return ""
}

// TestEdgeAsyncSlowLink: with --async over a slow link, cp returns once the file is spooled; the
// state xattr goes spooled -> uploading N% -> attached; ls of the draft and of drafts/ answer
// while the upload runs.
func TestEdgeAsyncSlowLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{async: true, emu: graphtest.Options{Bandwidth: 2_000_000, Latency: 20 * time.Millisecond}})
	id, dir := h.draft("Slow")
	h.mb.AddFileAttachment(id, "already.txt", "text/plain", []byte("there"))
	src, data := writeSource(t, 20*mib, 31)
	p := filepath.Join(dir, "big.bin")
	h.must("cp", src, p)
	sid := h.spoolID(id, "big.bin")
	first := h.state(p)
	if first != "spooled" && !strings.HasPrefix(first, "uploading ") {
		t.Errorf("state right after an async cp: %q, want spooled or uploading N%%", first)
	}
	pct := regexp.MustCompile(`^uploading (\d+)%$`)
	seen := map[string]bool{first: true}
	lsDuring := false
	deadline := time.Now().Add(3 * time.Minute) // the upload takes 10 s at 2 MB/s; the loop ends then
	for time.Now().Before(deadline) {
		s := h.state(p)
		seen[s] = true
		if m, ok := h.spool.Get(sid); ok && m.State == spool.StateAttached {
			// (what the file looks like once attached is TestEdgeAsyncAttachedStaysListed's part)
			break
		}
		if m := pct.FindStringSubmatch(s); m != nil && m[1] != "0" && !lsDuring {
			// the upload is under way: ls must answer now, not after it
			out, err, timedOut := h.runFor(30*time.Second, "ls", "-l", dir)
			if err != nil || timedOut {
				t.Errorf("ls of the draft during an upload: %v (timed out: %v) %s", err, timedOut, out)
			} else if !strings.Contains(out, "big.bin") || !strings.Contains(out, "already.txt") {
				t.Errorf("ls during an upload lists:\n%s", out)
			}
			if out, err, timedOut := h.runFor(30*time.Second, "ls", filepath.Join(h.dir, "drafts")); err != nil || timedOut || !strings.Contains(out, "Slow") {
				t.Errorf("ls drafts/ during an upload: %v (timed out %v) %q", err, timedOut, out)
			}
			if got := h.must("cat", filepath.Join(dir, "already.txt")); got != "there" {
				t.Errorf("reading another attachment during an upload: %q", got)
			}
			st := h.must("cat", filepath.Join(h.dir, ".outlookfs", "status"))
			var stErr string
			if m := regexp.MustCompile(`1 uploading, 0 failed; ([0-9.]+) MB not uploaded yet`).FindStringSubmatch(st); m == nil {
				stErr = fmt.Sprintf(".outlookfs/status during an upload:\n%s", st)
			} else if mb, _ := strconv.ParseFloat(m[1], 64); mb <= 0 || mb > 20*mib/1e6 {
				stErr = fmt.Sprintf(".outlookfs/status says %s MB not uploaded yet of a 21 MB file", m[1])
			}
			// On a loaded machine the upload may end while these programs run: what status
			// says counts only if the upload still ran after it was read; else try again.
			if after := h.state(p); after != "attached" {
				lsDuring = true // ls came back while the upload still ran
				if stErr != "" {
					t.Error(stErr)
				}
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	var progress []string
	for s := range seen {
		progress = append(progress, s)
	}
	if m, ok := h.spool.Get(sid); !ok || m.State != spool.StateAttached {
		t.Fatalf("never attached; states seen: %q", progress)
	}
	var ups int
	for _, s := range progress {
		if pct.MatchString(s) && s != "uploading 0%" {
			ups++
		}
	}
	if ups == 0 {
		t.Errorf("the state never showed upload progress; states seen: %q", progress)
	}
	if !lsDuring {
		t.Errorf("never saw ls answer during the upload; states seen: %q", progress)
	}
	h.wantAttachments(id, map[string][]byte{"already.txt": []byte("there"), "big.bin": data})
}

// TestEdgeAsyncAttachedStaysListed: with --async, once a background upload finishes, the file is
// still there under its name: the state says "attached" and the id xattr gives the attachment.
// (A script that copies, then polls getfattr until "attached", must not see the file vanish.)
func TestEdgeAsyncAttachedStaysListed(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Stays")
	h.mb.AddFileAttachment(id, "already.txt", "text/plain", []byte("there"))
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Delay: 500 * time.Millisecond})
	src, data := writeSource(t, 100_000, 32)
	p := filepath.Join(dir, "new.bin")
	h.must("cp", src, p)
	sid := h.spoolID(id, "new.bin")
	if ls := h.must("ls", dir); !strings.Contains(ls, "new.bin") { // the listing is fetched while the upload runs
		t.Errorf("the draft does not list the spooled file: %q", ls)
	}
	if _, err := h.spool.Wait(t.Context(), sid, nil); err != nil {
		t.Fatal(err)
	}
	h.wantAttachments(id, map[string][]byte{"already.txt": []byte("there"), "new.bin": data})
	aid := h.mb.Attachments(id)[1].ID
	check := func(when string) {
		if s := h.state(p); s != "attached" {
			t.Errorf("%s: state %q, want attached (the draft lists %q)", when, s, h.must("ls", "-A", dir))
		}
		out, err := h.run("getfattr", "--absolute-names", "--only-values", "-n", xattrID, p)
		if err != nil || out != aid {
			t.Errorf("%s: id xattr %q (%v), want %q", when, strings.TrimSpace(out), err, aid)
		}
	}
	check("right after the upload")
	time.Sleep(1200 * time.Millisecond) // the kernel's entry and attribute caches (1 s) expire
	check("1.2 s after the upload")
	if ls := h.must("ls", "-A", dir); !strings.Contains(ls, "new.bin") {
		t.Errorf("1.2 s after the upload the draft lists %q", ls)
	}
}

// TestEdgeAsyncFailure: with --async, a 40 MB file (over the mailbox's 35 MB message size limit)
// is accepted by cp and then fails to upload. The user expects to find out: the file's state
// xattr says "failed: <reason>", .outlookfs/failures has a line for it, the log says why, and
// nothing is attached.
func TestEdgeAsyncFailure(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Async fail")
	src, _ := writeSource(t, 40_000_000, 41)
	p := filepath.Join(dir, "big.bin")
	h.must("cp", src, p)
	sid := h.spoolID(id, "big.bin")
	if sid == "" {
		t.Fatalf("big.bin is not in the spool")
	}
	_, err := h.spool.Wait(t.Context(), sid, nil)
	var ue *spool.UploadError
	if !errors.As(err, &ue) {
		t.Fatalf("upload of a 40 MB file: %v, want an UploadError", err)
	}
	if got := h.mb.Attachments(id); len(got) != 0 {
		t.Errorf("%d attachments after the failure", len(got))
	}
	fails := h.must("cat", filepath.Join(h.dir, ".outlookfs", "failures"))
	if !strings.Contains(fails, "big.bin") {
		t.Errorf(".outlookfs/failures does not name big.bin:\n%s", fails)
	}
	// the log line of a failed background upload must say which file: a spool id means nothing to
	// the user reading it
	if !strings.Contains(h.logs.String(), "big.bin") {
		t.Errorf("the log does not name the failed file (big.bin):\n%s", h.logs.String())
	}
	if s := h.state(p); !strings.HasPrefix(s, "failed: ") || !strings.Contains(s, "size limit") {
		t.Errorf("getfattr %s right after the failure: %q", xattrState, s)
	}
	// A user checks later (a script polls the xattr; the kernel's 1 s entry cache has expired):
	// the failure must still be readable where the file was.
	time.Sleep(1200 * time.Millisecond)
	if s := h.state(p); !strings.HasPrefix(s, "failed: ") || !strings.Contains(s, "size limit") {
		t.Errorf("getfattr %s of a failed async upload: %q, want \"failed: <reason>\" (the draft lists %q)",
			xattrState, s, h.must("ls", "-A", dir))
	}
}

// TestEdgeTransientFaults: 503s and 429s (with Retry-After) on the attachment POST and on the
// upload host's PUTs: cp still exits 0 and the file is attached exactly once.
func TestEdgeTransientFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Flaky")
	e := h.srv.Emulator
	e.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 503, RetryAfter: "0.2", Count: 2})
	e.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 429, RetryAfter: "0.1", Count: 1})
	small, smallData := writeSource(t, 50_000, 51)
	h.must("cp", small, filepath.Join(dir, "small.bin"))
	h.wantAttachments(id, map[string][]byte{"small.bin": smallData})
	e.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Status: 503, RetryAfter: "0.1", Nth: 2, Count: 2})
	big, bigData := writeSource(t, 5*mib, 52)
	h.must("cp", big, filepath.Join(dir, "big.bin"))
	h.wantAttachments(id, map[string][]byte{"small.bin": smallData, "big.bin": bigData})
	hit := 0
	h.waitIdle() // every request answered is logged
	for _, r := range e.Requests() {
		if r.Fault != "" {
			hit++
		}
	}
	if hit < 5 {
		t.Errorf("only %d requests hit a fault; the test did not test retries", hit)
	}
	// the retries succeeded, so nothing needs the user's attention; still, the log should say the
	// service was busy (someone wondering why a copy was slow looks there)
	if l := h.logs.String(); !strings.Contains(l, "503") && !strings.Contains(l, "429") && !strings.Contains(strings.ToLower(l), "retr") {
		t.Logf("note: the log does not mention the 503/429 retries:\n%s", l)
	}
}

// TestEdgeForbidden: a permanent 403 on the attachment POST: cp fails with "Permission denied",
// nothing is attached, nothing is left listed, and the log says why.
func TestEdgeForbidden(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Forbidden")
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 403, Count: -1})
	out, err := h.run("cp", "/etc/hostname", filepath.Join(dir, "h.txt"))
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("cp under a 403: err=%v %q, want Permission denied", err, out)
	}
	if n := len(h.mb.Attachments(id)); n != 0 {
		t.Errorf("%d attachments after a 403", n)
	}
	if !strings.Contains(h.logs.String(), "403") && !strings.Contains(strings.ToLower(h.logs.String()), "access denied") {
		t.Errorf("the log does not say the server refused (403)")
	}
	if ls := strings.TrimSpace(h.must("ls", "-A", dir)); ls != "" {
		t.Errorf("the draft lists %q after a refused copy", ls)
	}
}

// TestEdgeServerErrorForever: the attachment POST answers 500 to every attempt. The user expects
// cp to fail with an I/O error once the retries are spent (the spool retries transient failures;
// a synchronous close waits through them for --sync-retry, 5 s here, then gives up) rather than
// hang, nothing attached, and a log line saying why.
func TestEdgeServerErrorForever(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{syncRetry: 5 * time.Second, landing: time.Second})
	id, dir := h.draft("Broken")
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 500, Count: -1})
	start := time.Now()
	out, err, timedOut := h.runFor(60*time.Second, "cp", "/etc/hostname", filepath.Join(dir, "h.txt"))
	took := time.Since(start)
	h.srv.Emulator.Reset() // the server recovers
	if timedOut {
		t.Errorf("cp under 500s forever did not return within 60 s (it was killed; it ended %v after the start): "+
			"close(2) waits for an upload the spool retries forever", took.Round(time.Second))
	} else if err == nil || !strings.Contains(out, "Input/output error") {
		t.Errorf("cp under 500s forever: err=%v %q, want Input/output error", err, out)
	}
	if !strings.Contains(h.logs.String(), "500") && !strings.Contains(h.logs.String(), "Internal Server Error") {
		t.Errorf("the log does not say the server failed (500)")
	}
	if n := len(h.mb.Attachments(id)); n != 0 {
		t.Errorf("%d attachment(s) after cp failed", n)
	}
}

// TestEdgeAsyncOverwriteWhileUploading: with --async, a file copied twice in a row (the second
// copy lands while the first upload is still in flight) ends as one attachment with the second
// copy's bytes.
func TestEdgeAsyncOverwriteWhileUploading(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Twice")
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Delay: 1500 * time.Millisecond})
	a, aData := writeSource(t, 30_000, 61)
	b, bData := writeSource(t, 20_000, 62)
	p := filepath.Join(dir, "f.bin")
	h.must("cp", a, p)
	h.waitFaultsHit() // the first POST is in flight (held 1.5 s by the emulator)
	h.must("cp", b, p)
	for _, m := range h.spool.All() {
		if m.Item.ID == id {
			h.spool.Wait(t.Context(), m.ID, nil)
		}
	}
	// The first POST may land after the second copy was attached (if it was still held when
	// the second cp came) and is then deleted: wait for the emulator to end every request and
	// for the draft to settle on one attachment, then check it.
	h.waitIdle()
	h.eventually(time.Minute, "the draft to hold one f.bin", func() bool { return len(h.mb.Attachments(id)) == 1 })
	h.wantAttachments(id, map[string][]byte{"f.bin": bData})
	_ = aData
	if got := h.must("cat", p); got != string(bData) {
		t.Errorf("f.bin reads %d bytes, want the second copy's %d", len(got), len(bData))
	}
}

// TestEdgeAsyncRemoveWhileUploading: with --async, rm of a file whose upload is in flight cancels
// it: nothing is attached, nothing listed.
func TestEdgeAsyncRemoveWhileUploading(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Cancel")
	h.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", Delay: 1500 * time.Millisecond})
	src, _ := writeSource(t, 4*mib, 71)
	p := filepath.Join(dir, "gone.bin")
	h.must("cp", src, p)
	sid := h.spoolID(id, "gone.bin")
	h.waitFaultsHit() // the PUT is in flight, held 1.5 s by the emulator
	h.must("rm", p)
	if sid != "" {
		h.spool.Wait(t.Context(), sid, nil)
	}
	// The held PUT may still complete the upload (the session is cancelled after it) or fail;
	// once the emulator serves no request, anything it attached must go.
	h.waitIdle()
	deadline := time.Now().Add(time.Minute)
	for len(h.mb.Attachments(id)) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h.mb.Attachments(id)); n != 0 {
		t.Errorf("rm during an async upload: %d attachment(s) on the server a minute after the upload ended", n)
	}
	if ls := strings.TrimSpace(h.must("ls", "-A", dir)); ls != "" {
		t.Errorf("the draft lists %q after rm", ls)
	}
}

// TestEdgeDraftDeletedMeanwhile: the draft was deleted in Outlook while the mount still lists it:
// cp fails (it must not say it attached anything), and the log says why.
func TestEdgeDraftDeletedMeanwhile(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Deleted elsewhere")
	h.must("ls", dir)
	h.mb.DeleteItem(id)
	out, err := h.run("cp", "/etc/hostname", filepath.Join(dir, "h.txt"))
	if err == nil {
		t.Errorf("cp into a deleted draft succeeded: %q", out)
	}
	if !strings.Contains(h.logs.String(), "no longer exists") {
		t.Errorf("the log does not say the draft is gone")
	}
}

// TestEdgeDownloadErrors: reading an attachment whose $value fails: 404 (deleted in Outlook)
// gives ENOENT, a 403 gives EACCES; neither returns empty or wrong bytes.
func TestEdgeDownloadErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Downloads")
	// Large enough that the listing does not fetch their contents with it (prefetchSmall):
	// reading them must go to $value.
	aData := bytes.Repeat([]byte("a"), 5<<20/2)
	h.mb.AddFileAttachment(id, "a.bin", "application/octet-stream", aData)
	h.mb.AddFileAttachment(id, "b.bin", "application/octet-stream", bytes.Repeat([]byte("b"), 5<<20/2))
	h.must("ls", dir)
	for _, c := range []struct {
		name   string
		status int
		want   string
	}{{"a.bin", 404, "No such file or directory"}, {"b.bin", 403, "Permission denied"}} {
		h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "GET", Path: "/$value", Status: c.status, Count: -1})
		out, err, timedOut := h.runFor(30*time.Second, "cat", filepath.Join(dir, c.name))
		if err == nil || timedOut || !strings.Contains(out, c.want) {
			t.Errorf("cat %s under a %d: err=%v timedOut=%v %q, want %q", c.name, c.status, err, timedOut, out, c.want)
		}
		h.srv.Emulator.Reset()
	}
	if got := h.must("cat", filepath.Join(dir, "a.bin")); got != string(aData) {
		t.Errorf("after the fault, a.bin reads %d bytes, want %d", len(got), len(aData))
	}
}
