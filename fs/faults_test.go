package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"

	"github.com/outlookfs/outlookfs/spool"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "50m") on a fresh directory and unmounts it
// at cleanup (lazily if it is still busy).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("this test needs a tmpfs (run it as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Logf("unmount tmpfs %s: %v; detaching lazily", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// TestFullSpoolAttachesNothing: cp of 80 MiB into a spool that cannot hold it (its size limit,
// or the disk under it) fails with ENOSPC, at the write and at the close; nothing is attached,
// not even the part that fitted, the bytes are dropped, and the log says what to do. Issue 11.
func TestFullSpoolAttachesNothing(t *testing.T) {
	src, _ := writeSource(t, 80<<20, 11)
	for _, tc := range []struct {
		name  string
		async bool
		tmpfs bool
	}{
		{"spool-max, synchronous", false, false},
		{"spool-max, async", true, false},
		{"full disk, synchronous", false, true},
		{"full disk, async", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ho := harnessOptions{async: tc.async}
			if tc.tmpfs {
				ho.spoolDir = filepath.Join(mountTmpfs(t, "50m"), "spool")
			} else {
				ho.spoolMax = 20_000_000
			}
			h := newHarness(t, ho)
			id, dir := h.draft("Full spool")
			out, err := h.run("cp", src, filepath.Join(dir, "big.bin"))
			if err == nil {
				t.Fatalf("cp of 80 MiB into a full spool succeeded:\n%s", out)
			}
			if !strings.Contains(out, "No space left on device") || strings.Contains(out, "too large") {
				t.Errorf("cp said %q, want only ENOSPC (No space left on device)", out)
			}
			h.wantAttachments(id, map[string][]byte{})
			if ls := h.must("ls", "-a", dir); strings.Contains(ls, "big.bin") {
				t.Errorf("the failed file is still listed:\n%s", ls)
			}
			for _, m := range h.spool.All() {
				if m.State != spool.StateFailed {
					t.Errorf("the spool still holds %s (%s, %d bytes)", m.Name, m.State, m.Size)
				}
			}
			if !strings.Contains(h.logs.String(), "could not attach big.bin: a write failed because the spool is full") {
				t.Errorf("no log line says why big.bin was not attached")
			}
			if _, err := os.Stat(filepath.Join(dir, "big.bin")); !os.IsNotExist(err) {
				t.Errorf("stat of the failed file: %v, want ENOENT", err)
			}
			// The space is back: a small file fits again.
			small, data := writeSource(t, 1<<20, 12)
			h.must("cp", small, filepath.Join(dir, "small.bin"))
			if tc.async {
				h.waitAll(t, id)
			}
			h.wantAttachments(id, map[string][]byte{"small.bin": data})
		})
	}
}

// TestSyncCloseRetries: with the default (synchronous) close, one transient failure of the
// request that uploads a file (a cut connection, a 500 or a 504 on the small file's POST, a 500
// on createUploadSession) no longer fails cp at once: the close waits through the spool's
// retries and cp succeeds with the file attached once. A failure that lasts past the sync retry
// window fails cp with EIO and attaches nothing. Issue 11.
func TestSyncCloseRetries(t *testing.T) {
	small, smallData := writeSource(t, 1<<20, 21)
	large, largeData := writeSource(t, 5<<20, 22)
	post := graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments"}
	session := graphtest.Fault{Host: "graph", Method: "POST", Path: "/createUploadSession"}
	with := func(f graphtest.Fault, change func(*graphtest.Fault)) graphtest.Fault {
		change(&f)
		return f
	}
	for _, tc := range []struct {
		name  string
		fault graphtest.Fault
		large bool
		ok    bool // cp succeeds
	}{
		{"reset on the POST", with(post, func(f *graphtest.Fault) { f.Cut = true }), false, true},
		{"500 on the POST", with(post, func(f *graphtest.Fault) { f.Status = 500 }), false, true},
		{"504 on the POST", with(post, func(f *graphtest.Fault) { f.Status = 504 }), false, true},
		{"500 on createUploadSession", with(session, func(f *graphtest.Fault) { f.Status = 500 }), true, true},
		{"500 on every POST", with(post, func(f *graphtest.Fault) { f.Status, f.Count = 500, -1 }), false, false},
		{"500 on every createUploadSession", with(session, func(f *graphtest.Fault) { f.Status, f.Count = 500, -1 }), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A short landing window: an unanswered POST is looked for this long before it is
			// sent again (the default minute would only slow the test down).
			ho := harnessOptions{landing: 2 * time.Second, syncRetry: 30 * time.Second}
			if !tc.ok {
				ho.syncRetry = 3 * time.Second
			}
			h := newHarness(t, ho)
			id, dir := h.draft("Transient")
			src, data := small, smallData
			if tc.large {
				src, data = large, largeData
			}
			h.srv.Emulator.Inject(tc.fault)
			start := time.Now()
			out, err := h.run("cp", src, filepath.Join(dir, "f.bin"))
			took := time.Since(start)
			if tc.ok {
				if err != nil {
					t.Fatalf("cp failed after %v on a single transient error: %v\n%s", took, err, out)
				}
				h.wantAttachments(id, map[string][]byte{"f.bin": data})
				if !strings.Contains(h.logs.String(), "will retry") {
					t.Errorf("the fault did not hit: no retry in the log")
				}
				return
			}
			if err == nil || !strings.Contains(out, "Input/output error") {
				t.Fatalf("cp with Graph failing all along: %v %q, want EIO", err, out)
			}
			if took < ho.syncRetry {
				t.Errorf("cp failed after %v, before the %v of retries", took, ho.syncRetry)
			}
			h.wantAttachments(id, map[string][]byte{})
			if _, ok := h.spool.Get(h.spoolID(id, "f.bin")); ok {
				t.Errorf("the spool still holds the failed file")
			}
		})
	}
}

// TestAsyncUploadStaysListed: a file copied with --async stays in ls after its upload finishes,
// also while a listing fetched during the upload is served (issue 11: it vanished for a few
// seconds). The race is staged with the listing's own fetch machinery: a fetch that started
// while the upload ran (its answer lacks the file) completes after the attach was first shown,
// and is served while the next fetch is still on its way. Then ls goes on until listings
// fetched after the attach are served; every ls must show the file.
func TestAsyncUploadStaysListed(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true, emu: graphtest.Options{Bandwidth: 4_000_000}})
	id, dir := h.draft("Listed")
	h.mb.AddFileAttachment(id, "already.txt", "text/plain", []byte("there"))
	src, data := writeSource(t, 6<<20, 31)
	h.must("ls", dir)
	h.must("cp", src, filepath.Join(dir, "big.bin"))
	sid := h.spoolID(id, "big.bin")
	ls := func(when string) {
		t.Helper()
		if out := h.must("ls", dir); !strings.Contains(out, "big.bin") {
			t.Errorf("ls %s does not show big.bin:\n%s", when, out)
		}
	}
	ref := h.fsys.opts.Spool.All()[0].Item
	before, err := h.fsys.opts.Backend.ListAttachments(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := h.spool.Get(sid); !ok || m.State == spool.StateAttached {
		t.Fatalf("the upload ended before the test could list the item during it (%v); slow the link down", m.State)
	}
	l := h.fsys.itemListing(id)
	// stall starts a fetch of the listing that answers items once released.
	stall := func(items []graph.Attachment) (release func()) {
		gate := make(chan struct{})
		l.mu.Lock()
		done := l.startLocked(func(ctx context.Context) ([]graph.Attachment, error) {
			<-gate
			return items, nil
		}, h.fsys.log)
		l.mu.Unlock()
		return func() { close(gate); <-done }
	}
	releaseOld := stall(before) // started during the upload: its answer lacks the file
	if _, err := h.spool.Wait(t.Context(), sid, nil); err != nil {
		t.Fatal(err)
	}
	// The first ls after the attach shows the file (the listing lacks it, the spool has it) and
	// asks for a fresh listing; its lookups wait for the fetch in flight.
	first := make(chan string, 1)
	go func() {
		out, err := h.run("ls", dir)
		first <- fmt.Sprint(out, err)
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not a wait before an assertion
		}
	}
	waitUntil("the first ls to ask for a fresh listing", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.stale
	})
	// The next fetch will be slow; meanwhile the answer of the one started during the upload
	// comes in and is served.
	h.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "GET", Path: "/attachments", Delay: 2 * time.Second})
	releaseOld()
	waitUntil("the next fetch to start", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.inflight != nil
	})
	ls("while the listing fetched during the upload is served")
	if out := <-first; !strings.Contains(out, "big.bin") {
		t.Fatalf("the first ls after the attach does not show big.bin:\n%q", out)
	}
	after := l.fetchCount()
	for l.fetchCount() < after+2 { // until listings fetched after the attach are served
		ls("after the attach")
	}
	h.wantAttachments(id, map[string][]byte{"already.txt": []byte("there"), "big.bin": data})
}

// TestRefusedNameIsLogged: every name refused with EINVAL leaves a log line saying why. Issue 11.
func TestRefusedNameIsLogged(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, dir := h.draft("Names")
	for _, tc := range []struct {
		name   string
		script string // python3, with D the draft's directory and R the drafts directory
		want   string // in the log
	}{
		{"create, trailing space", `open(os.path.join(D, "a.txt "), "w").close()`, `creating a file refused: the name would be listed as \"a.txt\"`},
		{"create, control character", `open(os.path.join(D, "a\x01b"), "w").close()`, "creating a file refused: the name holds the control character U+0001"},
		{"create, inline", `open(os.path.join(D, "inline"), "w").close()`, `creating a file refused: \"inline\" is reserved`},
		{"rename, leading space", `open(os.path.join(D, ".t"), "w").close(); os.rename(os.path.join(D, ".t"), os.path.join(D, " t"))`, `creating a file refused: the name would be listed as \"t\"`},
		{"mkdir, trailing space", `os.mkdir(os.path.join(R, "Draft "))`, `mkdir refused: the name would be listed as \"Draft\"`},
		{"rename a draft, control character", `os.rename(os.path.join(R, "Names"), os.path.join(R, "Na\x7fmes"))`, "refused: the name holds the control character U+007F"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.run("python3", "-c", "import os, sys\nD, R = sys.argv[1], sys.argv[2]\n"+tc.script, dir, filepath.Dir(dir))
			if err == nil || !strings.Contains(out, "Invalid argument") {
				t.Fatalf("want EINVAL, got %v:\n%s", err, out)
			}
			if !strings.Contains(h.logs.String(), tc.want) {
				t.Errorf("no log line %q", tc.want)
			}
		})
	}
}

// TestAbandonedNotCountedAsWriting: files being written when the process died are counted as
// abandoned in .outlookfs/status, not as writing nor as bytes to upload. Issue 11.
func TestAbandonedNotCountedAsWriting(t *testing.T) {
	spoolDir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(context.Background(), spool.Options{Dir: spoolDir})
	if err != nil {
		t.Fatal(err)
	}
	srv := graphtest.StartT(t, graphtest.Options{})
	srv.Emulator.AddMailbox(testUPN)
	id := srv.Emulator.Mailbox(testUPN).AddDraft("Died")
	f, err := sp.Create(context.Background(), spool.CreateOptions{Item: graph.ItemRef{Kind: graph.KindMessage, ID: id}, Name: "half.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 5_000_000), 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil { // the process stops with the file still open
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{srv: srv, spoolDir: spoolDir})
	st := h.must("cat", filepath.Join(h.dir, ".outlookfs", "status"))
	if !strings.Contains(st, "spool: 0 writing, 0 waiting, 0 uploading, 0 failed; 0.0 MB not uploaded yet; 1 abandoned") {
		t.Errorf(".outlookfs/status after a restart with an abandoned file:\n%s", st)
	}
	if up := h.must("cat", filepath.Join(h.dir, ".outlookfs", "uploads")); strings.Contains(up, "half.bin") {
		t.Errorf(".outlookfs/uploads lists the abandoned file:\n%s", up)
	}
}
