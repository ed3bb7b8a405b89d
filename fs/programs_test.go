package fs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const mib = 1 << 20

// TestCopySizes copies files of every boundary size with cp and checks the draft afterwards.
func TestCopySizes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Sizes")
	want := map[string][]byte{}
	for i, n := range []int64{0, 1, 3*mib - 1, 3 * mib, 3*mib + 1} {
		src, data := writeSource(t, n, int64(i))
		name := fmt.Sprintf("file-%d.bin", n)
		h.must("cp", src, filepath.Join(dir, name))
		want[name] = data
		// cp exiting 0 means attached: no waiting, no polling.
		h.wantAttachments(id, want)
	}
	// ls -l shows true sizes, never Graph's larger listed size.
	out := h.must("ls", "-l", dir)
	for name, data := range want {
		if !strings.Contains(out, " "+strconv.Itoa(len(data))+" ") || !strings.Contains(out, name) {
			t.Errorf("ls -l does not show %s with %d bytes:\n%s", name, len(data), out)
		}
	}
	// and sha256sum through the mount matches.
	for name, data := range want {
		got := h.must("sha256sum", filepath.Join(dir, name))
		if !strings.HasPrefix(got, fmt.Sprintf("%x", sha256sum(data))) {
			t.Errorf("sha256sum %s = %s", name, got)
		}
	}
}

// TestCopyOverMessageLimit: a file over the mailbox's 35 MB limit makes cp fail with a clear
// error, and nothing is attached. Graph may count the limit on the bytes or on their MIME
// encoding (public reports disagree): a 40 MB file is over it either way, a 30 MB one only
// encoded (about 40.5 MB).
func TestCopyOverMessageLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		encoded bool
		size    int64
	}{
		{"40 MB, bytes counted", false, 40_000_000},
		{"40 MB, encoding counted", true, 40_000_000},
		{"30 MB, encoding counted", true, 30_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{emu: graphtest.Options{MessageSizeEncoded: tc.encoded}})
			copyOverMessageLimit(t, h, tc.size)
		})
	}
}

func copyOverMessageLimit(t *testing.T, h *harness, size int64) {
	id, dir := h.draft("Too big")
	src, _ := writeSource(t, size, 7)
	out, err := h.run("cp", src, filepath.Join(dir, "big.bin"))
	if err == nil {
		t.Fatalf("cp of a %d-byte file succeeded; want a failure\n%s", size, out)
	}
	if !strings.Contains(out, "too large") {
		t.Errorf("cp's error does not say the file is too large: %q", out)
	}
	if got := h.mb.Attachments(id); len(got) != 0 {
		t.Errorf("attachments after a failed copy: %d", len(got))
	}
	if !strings.Contains(h.logs.String(), "message size limit") && !strings.Contains(h.logs.String(), "too large") {
		t.Errorf("the log does not say why:\n%s", h.logs.String())
	}
	if ls := h.must("ls", "-A", dir); strings.TrimSpace(ls) != "" {
		t.Errorf("the draft still lists files after the failure: %q", ls)
	}
}

// TestCopyPast150MiB: a file of 150 MiB + 1 byte cannot be attached: cp fails with EFBIG as soon
// as the file passes the ceiling (the source is sparse, so this is quick), nothing is attached.
func TestCopyPast150MiB(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Huge")
	src := filepath.Join(t.TempDir(), "huge.bin")
	h.must("truncate", "-s", strconv.Itoa(150*mib+1), src)
	h.must("sh", "-c", "printf tail >> "+src) // real data at the end: the last write crosses the ceiling
	for _, args := range [][]string{
		{"cp", src, filepath.Join(dir, "huge.bin")},
		{"dd", "if=/dev/zero", "of=" + filepath.Join(dir, "dd.bin"), "bs=1", "count=1", "seek=" + strconv.Itoa(150*mib)},
		{"truncate", "-s", strconv.Itoa(150*mib + 1), filepath.Join(dir, "t.bin")},
	} {
		out, err := h.run(args[0], args[1:]...)
		if err == nil || !strings.Contains(out, "File too large") {
			t.Errorf("%s: err=%v out=%q, want EFBIG", args[0], err, out)
		}
	}
	if got := h.mb.Attachments(id); len(got) != 0 {
		t.Errorf("%d attachments after EFBIG", len(got))
	}
	if !strings.Contains(h.logs.String(), "limited to 150 MB") {
		t.Errorf("the log does not say why")
	}
}

// TestWritePastCeiling: the ceiling is a setting (3 MiB - 1 in clouds without upload sessions);
// a dd that streams past it fails at that write and attaches nothing, not even the empty file
// its dup2'd descriptor's first close uploaded.
func TestWritePastCeiling(t *testing.T) {
	h := newHarness(t, harnessOptions{maxFileSize: 8 * mib}) // the ceiling is a setting; 150 MiB in production
	id, dir := h.draft("Ceiling")
	out, err := h.run("dd", "if=/dev/zero", "of="+filepath.Join(dir, "huge.bin"), "bs=1M", "count=9")
	if err == nil {
		t.Fatalf("dd past the ceiling succeeded:\n%s", out)
	}
	if !strings.Contains(out, "File too large") {
		t.Errorf("dd's error is not EFBIG: %q", out)
	}
	if got := h.mb.Attachments(id); len(got) != 0 {
		t.Errorf("attachments after EFBIG: %d", len(got))
	}
}

func TestCopyPreserving(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Preserve")
	src, data := writeSource(t, 100_000, 1)
	h.must("cp", "-p", src, filepath.Join(dir, "p.bin"))
	h.must("cp", "-a", src, filepath.Join(dir, "a.bin"))
	h.must("touch", filepath.Join(dir, "a.bin"))
	h.wantAttachments(id, map[string][]byte{"p.bin": data, "a.bin": data})
}

func TestRsync(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Rsync")
	srcDir := t.TempDir()
	a, b := bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte("b"), 4*mib)
	os.WriteFile(filepath.Join(srcDir, "a.txt"), a, 0o644)
	os.WriteFile(filepath.Join(srcDir, "b.bin"), b, 0o600)
	// temp file (.a.txt.XXXXXX, a scratch name) + rename after close
	h.must("rsync", "-a", srcDir+"/", dir+"/")
	h.wantAttachments(id, map[string][]byte{"a.txt": a, "b.bin": b})
	// a changed file replaces the attachment: new version attached, old one deleted
	a2 := bytes.Repeat([]byte("A"), 7000)
	os.WriteFile(filepath.Join(srcDir, "a.txt"), a2, 0o644)
	h.must("rsync", "-a", srcDir+"/", dir+"/")
	h.wantAttachments(id, map[string][]byte{"a.txt": a2, "b.bin": b})
	// --inplace writes the target directly
	c := bytes.Repeat([]byte("c"), 1234)
	os.WriteFile(filepath.Join(srcDir, "c.txt"), c, 0o644)
	h.must("rsync", "--inplace", filepath.Join(srcDir, "c.txt"), dir+"/")
	h.wantAttachments(id, map[string][]byte{"a.txt": a2, "b.bin": b, "c.txt": c})
	h.noScratchUploaded()
}

func TestGioCopy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Gio")
	src, data := writeSource(t, 200_000, 3)
	h.must("gio", "copy", src, filepath.Join(dir, "g.bin"))
	h.wantAttachments(id, map[string][]byte{"g.bin": data})
	// over an existing file: probe-open, .goutputstream-XXXXXX, rename over the target while open
	src2, data2 := writeSource(t, 300_000, 4)
	h.must("gio", "copy", src2, filepath.Join(dir, "g.bin"))
	h.wantAttachments(id, map[string][]byte{"g.bin": data2})
	h.noScratchUploaded()
}

// TestGioTrashAndRemove: GNOME Files' Delete key is gio trash. There is no trash on the mount
// (its root takes no .Trash-UID), so trashing fails and the attachment stays; Files then offers
// to delete permanently, which is gio remove: the attachment goes.
func TestGioTrashAndRemove(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Trash")
	h.must("cp", "/etc/hostname", filepath.Join(dir, "t.txt"))
	want, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.run("gio", "trash", filepath.Join(dir, "t.txt"))
	if err == nil || !strings.Contains(out, "trash directory") {
		t.Errorf("gio trash: err=%v %q, want a failure naming the trash directory", err, out)
	}
	h.wantAttachments(id, map[string][]byte{"t.txt": want})
	h.must("gio", "remove", filepath.Join(dir, "t.txt"))
	h.wantAttachments(id, map[string][]byte{})
}

// TestDirectoryAttributes: every directory has one link (1 reads as "unknown" to find and fts,
// which then look into every entry) and a real time; find walks into drafts and inline/.
func TestDirectoryAttributes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Attrs")
	h.mb.AddInlineAttachment(id, "logo.png", "image/png", "logo@x", []byte("png"))
	h.must("cp", "/etc/hostname", filepath.Join(dir, "a.txt"))
	for _, p := range []string{h.dir, filepath.Join(h.dir, "drafts"), filepath.Join(h.dir, "events"),
		filepath.Join(h.dir, ".outlookfs"), dir, filepath.Join(dir, "inline"), filepath.Join(h.dir, ".outlookfs", "status")} {
		out := strings.Fields(h.must("stat", "-c", "%h %Y", p))
		if len(out) != 2 || out[0] != "1" {
			t.Errorf("stat %s: links %v, want 1", p, out)
			continue
		}
		if sec, err := strconv.ParseInt(out[1], 10, 64); err != nil || time.Unix(sec, 0).Year() < 2020 {
			t.Errorf("stat %s: modified %v (%v), want a real time", p, out[1], err)
		}
	}
	found := h.must("find", filepath.Join(h.dir, "drafts"), "-name", "a.txt", "-o", "-name", "logo@x")
	for _, want := range []string{filepath.Join(dir, "a.txt"), filepath.Join(dir, "inline", "logo@x")} {
		if !strings.Contains(found, want) {
			t.Errorf("find drafts/ did not find %s:\n%s", want, found)
		}
	}
}

func TestVim(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Vim")
	target := filepath.Join(dir, "notes.txt")
	// a new file, then an edit of the attached one
	h.must("sh", "-c", fmt.Sprintf("TERM=xterm script -qec \"vim -u NONE -i NONE -n -es -c 'normal ihello' -c 'wq' '%s'\" /dev/null", target))
	h.wantAttachments(id, map[string][]byte{"notes.txt": []byte("hello\n")})
	h.must("sh", "-c", fmt.Sprintf("TERM=xterm script -qec \"vim -u NONE -i NONE -es -c 'normal Aworld' -c 'wq' '%s'\" /dev/null", target))
	h.wantAttachments(id, map[string][]byte{"notes.txt": []byte("helloworld\n")})
	h.noScratchUploaded()
}

func TestDdFsyncAndTouch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Dd")
	src, data := writeSource(t, 5*mib, 5)
	h.must("dd", "if="+src, "of="+filepath.Join(dir, "dd.bin"), "bs=64k", "conv=fsync")
	h.must("touch", filepath.Join(dir, "empty.txt"))
	h.must("touch", filepath.Join(dir, "dd.bin")) // times on an attached file
	h.wantAttachments(id, map[string][]byte{"dd.bin": data, "empty.txt": {}})
}

func TestMoveAndRemove(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id1, d1 := h.draft("One")
	id2, d2 := h.draft("Two")
	src, data := writeSource(t, 70_000, 6)
	h.must("cp", src, filepath.Join(d1, "x.bin"))
	// within a draft: Graph cannot rename, so mv copies and unlinks by itself (EXDEV); it
	// copies the xattrs too, and says nothing of outlookfs's own, which it cannot set
	for _, mv := range [][2]string{{filepath.Join(d1, "x.bin"), filepath.Join(d1, "y.bin")}, {filepath.Join(d1, "y.bin"), filepath.Join(d2, "z.bin")}} {
		if out := h.must("mv", mv[0], mv[1]); out != "" {
			t.Errorf("mv %s %s printed %q", filepath.Base(mv[0]), filepath.Base(mv[1]), out)
		}
		if mv[1] == filepath.Join(d1, "y.bin") {
			h.wantAttachments(id1, map[string][]byte{"y.bin": data})
		}
	}
	h.wantAttachments(id1, map[string][]byte{})
	h.wantAttachments(id2, map[string][]byte{"z.bin": data})
	h.must("rm", filepath.Join(d2, "z.bin"))
	h.wantAttachments(id2, map[string][]byte{})
	if _, err := os.Stat(filepath.Join(d2, "z.bin")); !os.IsNotExist(err) {
		t.Errorf("z.bin still there after rm: %v", err)
	}
}

func TestDraftDirectories(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drafts := filepath.Join(h.dir, "drafts")
	h.must("mkdir", filepath.Join(drafts, "New plan"))
	if !h.hasDraft("New plan") {
		t.Fatalf("mkdir did not create a draft")
	}
	h.must("mv", filepath.Join(drafts, "New plan"), filepath.Join(drafts, "Old plan"))
	if !h.hasDraft("Old plan") || h.hasDraft("New plan") {
		t.Fatalf("mv did not change the subject")
	}
	h.must("cp", "/etc/hostname", filepath.Join(drafts, "Old plan", "h.txt"))
	if out, err := h.run("rmdir", filepath.Join(drafts, "Old plan")); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("rmdir of a draft with an attachment: err=%v out=%q, want ENOTEMPTY", err, out)
	}
	h.must("rm", filepath.Join(drafts, "Old plan", "h.txt"))
	h.must("rmdir", filepath.Join(drafts, "Old plan"))
	if h.hasDraft("Old plan") {
		t.Errorf("rmdir did not delete the draft")
	}
}

func (h *harness) hasDraft(subject string) bool {
	for _, d := range h.mb.Drafts() {
		if d.Subject == subject {
			return true
		}
	}
	return false
}

// noScratchUploaded checks the request log: no scratch name was ever attached.
func (h *harness) noScratchUploaded() {
	h.t.Helper()
	for _, d := range h.mb.Drafts() {
		for _, a := range h.mb.Attachments(d.ID) {
			if isScratch(a.Name) {
				h.t.Errorf("scratch file %q was uploaded", a.Name)
			}
		}
	}
}

func TestConcurrentCopies(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Twenty")
	want := map[string][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		size := int64(50_000 + i*1000)
		if i%5 == 0 {
			size = 3*mib + int64(i) // some through upload sessions
		}
		src, data := writeSource(t, size, int64(100+i))
		name := fmt.Sprintf("c%02d.bin", i)
		want[name] = data
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := h.run("cp", src, filepath.Join(dir, name)); err != nil {
				errs <- fmt.Errorf("cp %s: %v: %s", name, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h.wantAttachments(id, want)
	if got := h.srv.Emulator.MaxInFlight(testUPN); got > 4 {
		t.Errorf("the emulator saw %d requests in flight; the limit is 4", got)
	}
	if n := h.srv.Emulator.Throttled(testUPN); n != 0 {
		t.Errorf("%d requests were throttled", n)
	}
}

// TestReadEveryKind reads file, item (.eml/.ics/.vcf), reference and inline attachments.
func TestReadEveryKind(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Kinds")
	file := bytes.Repeat([]byte("0123456789"), 50_000)
	h.mb.AddFileAttachment(id, "report.pdf", "application/pdf", file)
	h.mb.AddItemAttachment(id, "Forwarded", "message", "Hello there")
	h.mb.AddItemAttachment(id, "Meeting", "event", "Standup")
	h.mb.AddItemAttachment(id, "Alice", "contact", "Alice")
	h.mb.AddReferenceAttachment(id, "Budget.xlsx", "https://contoso.sharepoint.com/budget.xlsx")
	png := []byte("\x89PNG fake image")
	h.mb.AddInlineAttachment(id, "logo.png", "image/png", "logo@contoso", png)

	got := h.must("cat", filepath.Join(dir, "report.pdf"))
	if got != string(file) {
		t.Errorf("report.pdf: read %d bytes, want %d", len(got), len(file))
	}
	if eml := h.must("cat", filepath.Join(dir, "Forwarded.eml")); !strings.Contains(eml, "Hello there") {
		t.Errorf("Forwarded.eml is not the message's MIME: %q", eml)
	}
	if ics := h.must("cat", filepath.Join(dir, "Meeting.ics")); !strings.Contains(ics, "BEGIN:VCALENDAR") {
		t.Errorf("Meeting.ics is not iCalendar: %q", ics)
	}
	if vcf := h.must("cat", filepath.Join(dir, "Alice.vcf")); !strings.Contains(vcf, "BEGIN:VCARD") {
		t.Errorf("Alice.vcf is not a vCard: %q", vcf)
	}
	if ref := h.must("cat", filepath.Join(dir, "Budget.xlsx"+referenceSuffix)); !strings.Contains(ref, "link attachment") {
		t.Errorf("the reference attachment reads %q", ref)
	}
	if in := h.must("cat", filepath.Join(dir, "inline", "logo@contoso")); in != string(png) {
		t.Errorf("inline/logo@contoso = %q", in)
	}
	// sizes in ls -l are the bytes read
	for _, name := range []string{"report.pdf", "Forwarded.eml", "Meeting.ics", "Alice.vcf"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if st.Size() != int64(len(b)) {
			t.Errorf("%s: stat size %d, content %d bytes", name, st.Size(), len(b))
		}
	}
	// sha256sum through the mount of every kind equals the hash of Graph's own $value, fetched
	// with the graph client (not through the mount).
	client, err := graph.New(graph.Config{BaseURL: h.srv.GraphURL, Tokens: graph.StaticToken(h.mb.Token()), HTTPClient: h.srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{"Forwarded": "Forwarded.eml", "Meeting": "Meeting.ics", "Alice": "Alice.vcf", "report.pdf": "report.pdf", "logo.png": "inline/logo@contoso"}
	for _, a := range h.mb.Attachments(id) {
		file, ok := byName[a.Name]
		if !ok {
			continue
		}
		rc, _, err := client.DownloadAttachment(t.Context(), graph.ItemRef{Kind: graph.KindMessage, ID: id}, a.ID)
		if err != nil {
			t.Fatalf("$value of %s: %v", a.Name, err)
		}
		want, _ := io.ReadAll(rc)
		rc.Close()
		got := h.must("sha256sum", filepath.Join(dir, file))
		if !strings.HasPrefix(got, fmt.Sprintf("%x", sha256sum(want))) {
			t.Errorf("sha256sum %s = %s, want the hash of its $value (%d bytes)", file, got[:16], len(want))
		}
		delete(byName, a.Name)
	}
	if len(byName) != 0 {
		t.Errorf("not checked: %v", byName)
	}
	// read-only kinds refuse writes
	if out, err := h.run("sh", "-c", "echo x > '"+filepath.Join(dir, "Forwarded.eml")+"'"); err == nil {
		t.Errorf("writing an attached message succeeded: %s", out)
	}
}

func TestXattrs(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Xattr")
	h.must("cp", "/etc/hostname", filepath.Join(dir, "h.txt"))
	out := h.must("getfattr", "-d", "-m", "user.outlookfs", filepath.Join(dir, "h.txt"))
	if !strings.Contains(out, `user.outlookfs.state="attached"`) {
		t.Errorf("state xattr: %s", out)
	}
	atts := h.mb.Attachments(id)
	if len(atts) != 1 || !strings.Contains(out, atts[0].ID) {
		t.Errorf("id xattr does not name the attachment: %s", out)
	}
}

func TestEventsReadOnlyWhenNotOrganizer(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	start := h.fsys.opts.Now().Add(48 * 3600e9).Truncate(3600e9)
	h.mb.AddEvent("Mine", start, start.Add(3600e9), true)
	h.mb.AddEvent("Theirs", start.Add(7200e9), start.Add(3*3600e9), false)
	events := filepath.Join(h.dir, "events")
	list := h.must("ls", events)
	mine := filepath.Join(events, start.In(h.fsys.opts.Location).Format("2006-01-02 15.04")+" Mine")
	theirs := filepath.Join(events, start.Add(7200e9).In(h.fsys.opts.Location).Format("2006-01-02 15.04")+" Theirs")
	if !strings.Contains(list, filepath.Base(mine)) || !strings.Contains(list, filepath.Base(theirs)) {
		t.Fatalf("events/ lists %q", list)
	}
	h.must("cp", "/etc/hostname", filepath.Join(mine, "agenda.txt"))
	// a large file into an event goes through an upload session on the event
	src, data := writeSource(t, 5*mib+3, 55)
	h.must("cp", src, filepath.Join(mine, "slides.pdf"))
	var mineID string
	for _, ev := range h.mb.Events() {
		if ev.Subject == "Mine" {
			mineID = ev.ID
		}
	}
	hostname, _ := os.ReadFile("/etc/hostname")
	h.wantAttachments(mineID, map[string][]byte{"agenda.txt": hostname, "slides.pdf": data})
	if out, err := h.run("cp", "/etc/hostname", filepath.Join(theirs, "agenda.txt")); err == nil || !strings.Contains(out, "ermission denied") {
		t.Errorf("cp into an event the user does not organise: err=%v %q, want EACCES", err, out)
	}
}

func TestAsyncClose(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Async")
	src, data := writeSource(t, 4*mib, 9)
	h.must("cp", src, filepath.Join(dir, "a.bin"))
	h.spoolWait(t, id, "a.bin")
	h.wantAttachments(id, map[string][]byte{"a.bin": data})
}

// spoolWait waits (through the spool's wait API, not by polling) for a file's upload.
func (h *harness) spoolWait(t *testing.T, itemID, name string) {
	for _, m := range h.spool.All() {
		if m.Item.ID == itemID && m.Name == name {
			if _, err := h.spool.Wait(t.Context(), m.ID, nil); err != nil {
				t.Fatalf("upload of %s: %v", name, err)
			}
			return
		}
	}
}

var _ = graphtest.Options{}

// With --async, rsync's temp file renamed over an attachment replaces it too: the spool deletes
// the old attachment once the new one is attached (durably, not from a goroutine of the mount).
func TestRsyncAsyncReplace(t *testing.T) {
	h := newHarness(t, harnessOptions{async: true})
	id, dir := h.draft("Rsync async")
	srcDir := t.TempDir()
	v1 := bytes.Repeat([]byte("1"), 4000)
	os.WriteFile(filepath.Join(srcDir, "a.txt"), v1, 0o644)
	h.must("rsync", "-a", srcDir+"/", dir+"/")
	h.waitAll(t, id)
	h.wantAttachments(id, map[string][]byte{"a.txt": v1})
	v2 := bytes.Repeat([]byte("2"), 5000)
	os.WriteFile(filepath.Join(srcDir, "a.txt"), v2, 0o644)
	h.must("rsync", "-a", srcDir+"/", dir+"/")
	h.waitAll(t, id)
	h.wantAttachments(id, map[string][]byte{"a.txt": v2})
	if got := h.must("cat", filepath.Join(dir, "a.txt")); got != string(v2) {
		t.Errorf("a.txt reads %d bytes, want the new version", len(got))
	}
	h.noScratchUploaded()
}

// waitAll waits, through the spool's wait API, for every upload into an item.
func (h *harness) waitAll(t *testing.T, itemID string) {
	t.Helper()
	for _, m := range h.spool.All() {
		if m.Item.ID == itemID && !m.Scratch {
			if _, err := h.spool.Wait(t.Context(), m.ID, nil); err != nil {
				t.Fatalf("upload of %s: %v", m.Name, err)
			}
		}
	}
}

// Reads stream: the first bytes of an attachment are served from its download as it arrives
// (head leaves it uncached: it was not downloaded whole first); a whole read fills the cache,
// and later reads need no request at all.
func TestStreamingRead(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Stream")
	_, data := writeSource(t, 9*mib+123, 77)
	attID := h.mb.AddFileAttachment(id, "big.bin", "application/octet-stream", data)
	_, data2 := writeSource(t, 6*mib+5, 78)
	h.mb.AddFileAttachment(id, "two.bin", "application/octet-stream", data2)
	_, data3 := writeSource(t, 7*mib+9, 79)
	h.mb.AddFileAttachment(id, "three.bin", "application/octet-stream", data3)
	p := filepath.Join(dir, "big.bin")
	if got := h.must("sh", "-c", "head -c 1000 '"+p+"'"); got != string(data[:1000]) {
		t.Fatalf("head -c 1000 read %d bytes that differ", len(got))
	}
	if h.fsys.opts.Cache.Has(attID) {
		t.Errorf("head -c 1000 downloaded the whole attachment into the cache before answering")
	}
	got := h.must("cat", p)
	if got != string(data) {
		t.Fatalf("cat read %d bytes, want %d", len(got), len(data))
	}
	// The last read waits for the cache's fill for 2 s at most (teeWait), then returns: on a
	// loaded machine the fill may end just after cat does.
	h.eventually(time.Minute, "a whole read to fill the content cache", func() bool { return h.fsys.opts.Cache.Has(attID) })
	h.srv.Emulator.Reset()
	if got := h.must("sha256sum", p); !strings.HasPrefix(got, fmt.Sprintf("%x", sha256sum(data))) {
		t.Errorf("sha256sum = %s", got)
	}
	for _, r := range h.srv.Emulator.Requests() {
		if strings.HasSuffix(r.Path, "/$value") {
			t.Errorf("a cached attachment was downloaded again: %s %s", r.Method, r.Path)
		}
	}
	// Uncached again: a read that starts in the middle, and two readers at once, read right.
	p2 := filepath.Join(dir, "two.bin")
	mid := h.must("sh", "-c", fmt.Sprintf("dd if='%s' bs=4096 skip=1000 count=3 status=none", p2))
	if mid != string(data2[1000*4096:1003*4096]) {
		t.Errorf("dd skip=1000 read %d bytes that differ", len(mid))
	}
	p3 := filepath.Join(dir, "three.bin")
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := h.run("cat", p3); err != nil || got != string(data3) {
				t.Errorf("concurrent cat: %v, %d bytes", err, len(got))
			}
		}()
	}
	wg.Wait()
}

// --async uploads survive a restart: files closed into the spool before an unmount are uploaded
// by the next mount of the same spool, each attached exactly once and byte-identical.
func TestAsyncSurvivesRemount(t *testing.T) {
	h1 := newHarness(t, harnessOptions{async: true, emu: graphtest.Options{Bandwidth: 4_000_000}})
	id, dir := h1.draft("Restart")
	want := map[string][]byte{}
	for i, n := range []int64{200_000, 5 * mib} {
		src, data := writeSource(t, n, int64(300+i))
		name := fmt.Sprintf("r%d.bin", i)
		h1.must("cp", src, filepath.Join(dir, name))
		want[name] = data
	}
	h1.close() // unmount and close the spool with the uploads (most likely) unfinished
	t.Logf("attached before the remount: %d of %d", len(h1.mb.Attachments(id)), len(want))

	h2 := newHarness(t, harnessOptions{async: true, srv: h1.srv, spoolDir: h1.spoolDir})
	h2.waitAll(t, id)
	h2.wantAttachments(id, want)
	for name, data := range want {
		if got := h2.must("cat", filepath.Join(h2.dir, "drafts", "Restart", name)); got != string(data) {
			t.Errorf("%s after the remount: %d bytes, want %d", name, len(got), len(data))
		}
	}
}

// ls -l of a draft with many small attachments learns their true sizes from one listing with
// contents, not from one $value request each; the sizes are the bytes.
func TestLsManySmallAttachments(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Many small")
	sizes := map[string]int{}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("s%02d.txt", i)
		sizes[name] = 10 + i*37
		h.mb.AddFileAttachment(id, name, "text/plain", bytes.Repeat([]byte("x"), sizes[name]))
	}
	h.srv.Emulator.Reset()
	out := h.must("ls", "-l", dir)
	for name, n := range sizes {
		if !strings.Contains(out, fmt.Sprintf(" %d ", n)) || !strings.Contains(out, name) {
			t.Errorf("ls -l does not show %s with %d bytes", name, n)
		}
	}
	values := 0
	for _, r := range h.srv.Emulator.Requests() {
		if strings.HasSuffix(r.Path, "/$value") {
			values++
		}
	}
	if values != 0 {
		t.Errorf("%d $value requests for the sizes of small attachments, want 0", values)
	}
	if got := h.must("cat", filepath.Join(dir, "s07.txt")); len(got) != sizes["s07.txt"] {
		t.Errorf("s07.txt reads %d bytes", len(got))
	}
}
