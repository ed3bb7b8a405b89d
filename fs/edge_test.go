package fs

// Edge cases found by using the mount the way its users do: real programs as subprocesses,
// results checked in the emulator's mailbox and request log.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// runFor runs a program (outside the mount) with its own timeout. timedOut says the program had
// to be killed.
func (h *harness) runFor(d time.Duration, name string, args ...string) (out string, err error, timedOut bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	return string(b), err, ctx.Err() != nil
}

// py runs a python3 program with the given arguments (sys.argv[1:]).
func (h *harness) py(script string, args ...string) string {
	h.t.Helper()
	return h.must("python3", append([]string{"-c", script}, args...)...)
}

// writes counts the requests that change attachments: POSTs and PUTs to either host and DELETEs.
func writes(recs []graphtest.RequestRecord) (posts, puts, deletes int) {
	for _, r := range recs {
		switch {
		case r.Method == "POST" && strings.Contains(r.Path, "/attachments"):
			posts++
		case r.Method == "PUT" || (r.Host == "upload" && r.Method == "POST"):
			puts++
		case r.Method == "DELETE":
			deletes++
		}
	}
	return
}

// requestsSince returns the requests logged after the first n, once the emulator serves none:
// it logs a request only once it has answered it, so a count taken while one is still being
// logged could miss it.
func (h *harness) requestsSince(n int) []graphtest.RequestRecord {
	h.t.Helper()
	h.waitIdle()
	return h.srv.Emulator.Requests()[n:]
}

// TestEdgeLibreOfficeSave: LibreOffice keeps a `.~lock.NAME#` file beside the document while it
// is open, and saves by writing a temporary file in the same directory (`luXXXXXX.tmp`, made by
// osl's temp file code) and moving it over the document (osl_moveFile: rename, and on EXDEV copy +
// unlink). The user expects one new version of the document, the old one gone, and no temporary
// file (lock or lu*.tmp) ever reaching the draft, where a recipient could see it.
func TestEdgeLibreOfficeSave(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("LibreOffice")
	v1 := bytes.Repeat([]byte("version one "), 2000)
	h.mb.AddFileAttachment(id, "report.odt", "application/vnd.oasis.opendocument.text", v1)
	target := filepath.Join(dir, "report.odt")
	lock := filepath.Join(dir, ".~lock.report.odt#")
	tmp := filepath.Join(dir, "lu2840fk3a.tmp")
	if got := h.must("cat", target); got != string(v1) {
		t.Fatalf("report.odt reads %d bytes, want %d", len(got), len(v1))
	}
	before := len(h.srv.Emulator.Requests())
	// open the document: the lock file
	h.sh(fmt.Sprintf("printf ',User,host,22.11.2026 10:00,file:///home/user/.config/libreoffice/4;' > '%s'", lock))
	if ls := h.must("ls", "-A", dir); !strings.Contains(ls, ".~lock.report.odt#") {
		t.Errorf("the lock file is not listed while it exists: %q", ls)
	}
	// save: temp file in the same directory, then move it over the document
	v2 := bytes.Repeat([]byte("version two "), 3000)
	src := filepath.Join(t.TempDir(), "v2")
	os.WriteFile(src, v2, 0o644)
	h.must("cp", src, tmp)
	h.must("mv", "-f", tmp, target)
	// close the document
	h.must("rm", "-f", lock)

	h.wantAttachments(id, map[string][]byte{"report.odt": v2})
	h.noScratchUploaded()
	posts, puts, _ := writes(h.requestsSince(before))
	if posts+puts != 1 {
		t.Errorf("one LibreOffice save made %d attachment uploads (POST %d, upload PUT %d); want 1: the temporary "+
			"file %s was uploaded as an attachment of its own", posts+puts, posts, puts, filepath.Base(tmp))
	}
	if ls := strings.TrimSpace(h.must("ls", "-A", dir)); ls != "report.odt" {
		t.Errorf("the draft lists %q after the save; want only report.odt", ls)
	}
}

// TestEdgeLibreOfficeLockOnly: the lock file alone (open, then close without saving) never
// reaches the draft and leaves nothing behind.
func TestEdgeLibreOfficeLockOnly(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Lock only")
	h.mb.AddFileAttachment(id, "doc.odt", "application/octet-stream", []byte("doc"))
	before := len(h.srv.Emulator.Requests())
	lock := filepath.Join(dir, ".~lock.doc.odt#")
	h.sh(fmt.Sprintf("printf 'lock' > '%s' && cat '%s' >/dev/null && rm '%s'", lock, lock, lock))
	if p, u, d := writes(h.requestsSince(before)); p+u+d != 0 {
		t.Errorf("a lock file made %d POST, %d PUT, %d DELETE; want none", p, u, d)
	}
	h.wantAttachments(id, map[string][]byte{"doc.odt": []byte("doc")})
	if ls := strings.TrimSpace(h.must("ls", "-A", dir)); ls != "doc.odt" {
		t.Errorf("after removing the lock the draft lists %q", ls)
	}
}

// TestEdgeGioProbe: GIO (and GNOME Files) opens an existing target O_WRONLY and closes it without
// writing. The user expects nothing to happen: no upload, no delete, the attachment unchanged.
func TestEdgeGioProbe(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Probe")
	data := bytes.Repeat([]byte("probe "), 5000)
	aid := h.mb.AddFileAttachment(id, "keep.pdf", "application/pdf", data)
	p := filepath.Join(dir, "keep.pdf")
	h.must("stat", p)
	before := len(h.srv.Emulator.Requests())
	h.py("import os,sys\nfd=os.open(sys.argv[1], os.O_WRONLY)\nos.close(fd)", p)
	// the shell's way: open for appending, close unwritten
	h.sh(fmt.Sprintf("exec 3>>'%s'; exec 3>&-", p))
	// and read-write
	h.py("import os,sys\nfd=os.open(sys.argv[1], os.O_RDWR)\nos.fsync(fd)\nos.close(fd)", p)
	if p, u, d := writes(h.requestsSince(before)); p+u+d != 0 {
		t.Errorf("unwritten opens made %d POST, %d PUT, %d DELETE; want none", p, u, d)
	}
	atts := h.mb.Attachments(id)
	if len(atts) != 1 || atts[0].ID != aid || !bytes.Equal(atts[0].Data, data) {
		t.Errorf("the attachment changed after a probe: %d attachments", len(atts))
	}
}

// TestEdgeDupClose: a program that dup()s its descriptor and closes the copy, then keeps writing
// through the original (shells, dd, Python's subprocess plumbing), expects the file's final
// content attached exactly once.
func TestEdgeDupClose(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Dup")
	h.py(`import os,sys
fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_EXCL, 0o644)
os.write(fd, b"first ")
os.close(os.dup(fd))
os.write(fd, b"second")
os.close(os.dup(fd))
os.write(fd, b" third")
os.close(fd)`, filepath.Join(dir, "py.txt"))
	h.sh(fmt.Sprintf("exec 3>'%s'; printf a >&3; exec 4>&3; exec 4>&-; printf b >&3; exec 3>&-", filepath.Join(dir, "sh.txt")))
	// echo a > f; echo b >> f: an append to an attached file
	f := filepath.Join(dir, "echo.txt")
	h.sh(fmt.Sprintf("echo a > '%s'; echo b >> '%s'", f, f))
	h.wantAttachments(id, map[string][]byte{
		"py.txt":   []byte("first second third"),
		"sh.txt":   []byte("ab"),
		"echo.txt": []byte("a\nb\n"),
	})
	if got := h.must("cat", f); got != "a\nb\n" {
		t.Errorf("cat echo.txt = %q", got)
	}
}

// TestEdgeOverwrite: overwriting an attachment with a shorter file (cp, the shell's `>`), and
// truncating one (coreutils truncate opens and ftruncates; Python os.truncate is truncate(2) by
// path). Each leaves exactly one attachment with exactly the new bytes.
func TestEdgeOverwrite(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Overwrite")
	f := filepath.Join(dir, "f.bin")
	long, longData := writeSource(t, 200_000, 11)
	h.must("cp", long, f)
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short"), 0o644)
	h.must("cp", short, f)
	h.wantAttachments(id, map[string][]byte{"f.bin": []byte("short")})
	h.must("cp", long, f)
	h.sh(fmt.Sprintf("printf xyz > '%s'", f))
	h.wantAttachments(id, map[string][]byte{"f.bin": []byte("xyz")})
	_ = longData

	steps := []struct {
		name string
		cmd  func()
		want string
	}{
		{"truncate -s 0", func() { h.must("truncate", "-s", "0", f) }, ""},
		{"printf", func() { h.sh(fmt.Sprintf("printf 0123456789abcdef > '%s'", f)) }, "0123456789abcdef"},
		{"truncate -s 10 (shrink)", func() { h.must("truncate", "-s", "10", f) }, "0123456789"},
		{"truncate -s 12 (grow)", func() { h.must("truncate", "-s", "12", f) }, "0123456789\x00\x00"},
		{"os.truncate(path, 4)", func() { h.py("import os,sys\nos.truncate(sys.argv[1], 4)", f) }, "0123"},
		{"os.truncate(path, 0)", func() { h.py("import os,sys\nos.truncate(sys.argv[1], 0)", f) }, ""},
	}
	for _, s := range steps {
		s.cmd()
		atts := h.mb.Attachments(id)
		if len(atts) != 1 || atts[0].Name != "f.bin" || string(atts[0].Data) != s.want {
			var got []string
			for _, a := range atts {
				got = append(got, fmt.Sprintf("%s=%q", a.Name, a.Data))
			}
			t.Errorf("after %s: attachments %v, want f.bin=%q", s.name, got, s.want)
		}
		if got := h.must("cat", f); got != s.want {
			t.Errorf("after %s: cat reads %q, want %q", s.name, got, s.want)
		}
	}
}

// TestEdgeScratchAndRename: scratch files never upload, renaming one to an ordinary name attaches
// it, a pending file renamed over an attachment replaces it, and mv between drafts moves.
func TestEdgeScratchAndRename(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Scratch")
	id2, dir2 := h.draft("Other")
	before := len(h.srv.Emulator.Requests())
	// unlink of a scratch file
	x := filepath.Join(dir, ".x.tmp")
	h.sh(fmt.Sprintf("printf scratch > '%s'", x))
	if got := h.must("cat", x); got != "scratch" {
		t.Errorf("a scratch file reads %q", got)
	}
	h.must("rm", x)
	if _, err := os.Stat(x); !os.IsNotExist(err) {
		t.Errorf(".x.tmp still there after rm: %v", err)
	}
	if p, u, d := writes(h.requestsSince(before)); p+u+d != 0 {
		t.Errorf("a scratch file made %d POST, %d PUT, %d DELETE", p, u, d)
	}
	// a closed scratch file renamed to an ordinary name is attached by the rename
	y := filepath.Join(dir, ".y.txt.XXXX")
	h.sh(fmt.Sprintf("printf renamed > '%s'", y))
	h.must("mv", y, filepath.Join(dir, "y.txt"))
	h.wantAttachments(id, map[string][]byte{"y.txt": []byte("renamed")})

	// a file not yet attached (still open) renamed over an attachment replaces it
	h.mb.AddFileAttachment(id, "old.txt", "text/plain", []byte("old content"))
	h.py(`import os,sys
fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_EXCL, 0o644)
os.write(fd, b"new ")
os.rename(sys.argv[1], sys.argv[2])
os.write(fd, b"content")
os.close(fd)`, filepath.Join(dir, "new.txt"), filepath.Join(dir, "old.txt"))
	h.wantAttachments(id, map[string][]byte{"y.txt": []byte("renamed"), "old.txt": []byte("new content")})

	// mv of an attached file to another draft
	h.must("mv", filepath.Join(dir, "y.txt"), filepath.Join(dir2, "y.txt"))
	h.wantAttachments(id, map[string][]byte{"old.txt": []byte("new content")})
	h.wantAttachments(id2, map[string][]byte{"y.txt": []byte("renamed")})
	// mv of a scratch file to another draft under an ordinary name attaches it there
	z := filepath.Join(dir, ".z.part")
	h.sh(fmt.Sprintf("printf zed > '%s'", z))
	h.must("mv", z, filepath.Join(dir2, "z.txt"))
	h.wantAttachments(id2, map[string][]byte{"y.txt": []byte("renamed"), "z.txt": []byte("zed")})
	h.wantAttachments(id, map[string][]byte{"old.txt": []byte("new content")})
	h.noScratchUploaded()
	for _, d := range []string{dir, dir2} {
		ls := h.must("ls", "-A", d)
		for _, l := range strings.Fields(ls) {
			if isScratch(l) {
				t.Errorf("%s still lists scratch file %q", filepath.Base(d), l)
			}
		}
	}
}

// TestEdgeDraftDirectories: mv of a draft keeps its attachments, rmdir of a draft with an
// attachment or a local file is ENOTEMPTY, names with control characters are EINVAL, and
// non-ASCII names and names with spaces work.
func TestEdgeDraftDirectories(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drafts := filepath.Join(h.dir, "drafts")
	id, dir := h.draft("Move me")
	id2, dir2 := h.draft("Scratch only")
	h.mb.AddFileAttachment(id, "a.txt", "text/plain", []byte("a"))
	h.must("mv", dir, filepath.Join(drafts, "Moved"))
	if it, _ := h.mb.Item(id); it.Subject != "Moved" {
		t.Errorf("subject after mv: %q", it.Subject)
	}
	if got := h.must("cat", filepath.Join(drafts, "Moved", "a.txt")); got != "a" {
		t.Errorf("a.txt after mv of its draft reads %q", got)
	}
	out, err := h.run("rmdir", filepath.Join(drafts, "Moved"))
	if err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("rmdir of a draft with an attachment: err=%v %q", err, out)
	}
	// a draft with only a local scratch file is not empty either
	h.sh(fmt.Sprintf("printf x > '%s'", filepath.Join(dir2, ".pending.swp")))
	out, err = h.run("rmdir", dir2)
	if err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("rmdir of a draft holding a local file: err=%v %q", err, out)
	}
	if _, ok := h.mb.Item(id2); !ok {
		t.Errorf("rmdir deleted a draft that held a local file")
	}
	// control characters
	for _, name := range []string{"tab\there", "new\nline", "bell\a"} {
		out, err := h.run("mkdir", filepath.Join(drafts, name))
		if err == nil || !strings.Contains(out, "Invalid argument") {
			t.Errorf("mkdir %q: err=%v %q, want EINVAL", name, err, out)
		}
	}
	// non-ASCII and spaces: the draft exists with exactly that subject, and the directory
	// is usable by the name it was made with
	for _, name := range []string{"Résumé – 日本語 ✓", "two  spaces inside", "Ünïcödé.pdf"} {
		p := filepath.Join(drafts, name)
		h.must("mkdir", p)
		if !h.hasDraft(name) {
			t.Errorf("mkdir %q: no draft with that subject", name)
			continue
		}
		h.must("cp", "/etc/hostname", filepath.Join(p, "h.txt"))
		if ls := h.must("ls", drafts); !strings.Contains(ls, name) {
			t.Errorf("drafts/ does not list %q: %q", name, ls)
		}
	}
}

// TestEdgeDraftNameWithOuterSpaces: `mkdir " padded "` makes a draft with that subject, but the
// listing shows the trimmed name: the user's directory disappears under them (stat and cp by the
// name they gave fail once the listing is refreshed). The user expects either EINVAL from mkdir
// or a directory that keeps the name it was made with.
func TestEdgeDraftNameWithOuterSpaces(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drafts := filepath.Join(h.dir, "drafts")
	name := " padded "
	p := filepath.Join(drafts, name)
	out, err := h.run("mkdir", p)
	if err != nil {
		if !strings.Contains(out, "Invalid argument") {
			t.Errorf("mkdir %q failed with %q; want success or EINVAL", name, out)
		}
		return
	}
	h.relist(drafts, &h.fsys.drafts)
	if _, err := os.Stat(p); err != nil {
		t.Errorf("mkdir %q succeeded but the directory is gone once the listing is refreshed: %v (drafts/ lists %q)",
			name, err, h.must("ls", drafts))
	}
}

// TestEdgeFileNameWithOuterSpaces: `cp x "notes.txt "` succeeds, but the attachment is listed as
// "notes.txt": the file the user just wrote vanishes under the name they gave it.
func TestEdgeFileNameWithOuterSpaces(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Spaces")
	p := filepath.Join(dir, "notes.txt ")
	out, err := h.run("cp", "/etc/hostname", p)
	if err != nil {
		if !strings.Contains(out, "Invalid argument") {
			t.Errorf("cp to %q failed with %q; want success or EINVAL", p, out)
		}
		return
	}
	if len(h.mb.Attachments(id)) != 1 {
		t.Fatalf("cp succeeded but %d attachments", len(h.mb.Attachments(id)))
	}
	h.relist(dir, h.fsys.itemListing(id))
	if _, err := os.Stat(p); err != nil {
		t.Errorf("cp to %q succeeded but the file is gone by that name: %v (the draft lists %q)", "notes.txt ", err, h.must("ls", "-A", dir))
	}
}

// TestEdgeServerNames: attachment names from the server with duplicates, "/", "..", ".",
// control characters, invalid UTF-8, empty and very long names: ls shows safe, unique names,
// and reading each name gives that attachment's bytes.
func TestEdgeServerNames(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Names")
	names := []string{"dup.txt", "dup.txt", "dup.txt", "a/b.txt", "../../etc/passwd", "..", ".", "",
		"tab\there.txt", "bad\xff.txt", strings.Repeat("x", 300) + ".pdf", strings.Repeat("é", 200), " dup.txt ",
		"inline", ".hidden", "dup [000000].txt"}
	byData := map[string]string{}
	for i, n := range names {
		data := fmt.Sprintf("attachment %d named %q", i, n)
		h.mb.AddFileAttachment(id, n, "application/octet-stream", []byte(data))
		byData[data] = n
	}
	ls := h.must("ls", "-A", dir)
	listed := strings.Split(strings.TrimSuffix(ls, "\n"), "\n")
	if len(listed) != len(names) {
		t.Errorf("ls shows %d names for %d attachments:\n%s", len(listed), len(names), ls)
	}
	seen := map[string]string{}
	for _, l := range listed {
		if l == "." || l == ".." || strings.Contains(l, "/") || len(l) > 255 || l == "" {
			t.Errorf("unsafe name listed: %q", l)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, l))
		if err != nil {
			t.Errorf("read %q: %v", l, err)
			continue
		}
		orig, ok := byData[string(b)]
		if !ok {
			t.Errorf("%q reads %q, which is no attachment's content", l, b)
			continue
		}
		if prev, dup := seen[string(b)]; dup {
			t.Errorf("%q and %q read the same attachment (%q)", prev, l, orig)
		}
		seen[string(b)] = l
	}
	if len(seen) != len(names) {
		var missing []string
		for d, n := range byData {
			if _, ok := seen[d]; !ok {
				missing = append(missing, fmt.Sprintf("%q", n))
			}
		}
		sort.Strings(missing)
		t.Errorf("attachments not readable under any listed name: %v", missing)
	}
	// the names are stable across a refresh of the listing
	h.relist(dir, h.fsys.itemListing(id))
	if ls2 := h.must("ls", "-A", dir); ls2 != ls {
		t.Errorf("names changed across listings:\n%s\nthen\n%s", ls, ls2)
	}
	// nothing escaped the mount
	if _, err := os.Stat(filepath.Join(h.dir, "etc")); err == nil {
		t.Errorf("a server name created a path outside the draft")
	}
}

// TestEdgeSameSubject: two drafts with the same subject are two directories; a copy into each
// lands in that draft.
func TestEdgeSameSubject(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.mb.AddDraft("Same")
	time.Sleep(2 * time.Millisecond)
	b := h.mb.AddDraft("Same")
	drafts := filepath.Join(h.dir, "drafts")
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(h.must("ls", drafts)), "\n") {
		if strings.HasPrefix(l, "Same") {
			dirs = append(dirs, l)
		}
	}
	if len(dirs) != 2 || dirs[0] == dirs[1] {
		t.Fatalf("two drafts named Same list as %q", dirs)
	}
	for i, d := range dirs {
		src := filepath.Join(t.TempDir(), "s")
		os.WriteFile(src, []byte(fmt.Sprintf("copy %d", i)), 0o644)
		h.must("cp", src, filepath.Join(drafts, d, "f.txt"))
	}
	na, nb := len(h.mb.Attachments(a)), len(h.mb.Attachments(b))
	if na != 1 || nb != 1 {
		t.Errorf("copies into the two same-subject drafts: %d and %d attachments, want 1 and 1", na, nb)
	}
	// the older keeps the plain name
	if got := h.must("cat", filepath.Join(drafts, "Same", "f.txt")); len(h.mb.Attachments(a)) == 1 && string(h.mb.Attachments(a)[0].Data) != got {
		t.Errorf("drafts/Same is not the older draft")
	}
}

// TestEdgeLinksNodesXattrs: ln, ln -s and mknod fail with EPERM; user.* attributes are accepted,
// outlookfs's own are read-only; attached items and inline files show their state and id.
func TestEdgeLinksNodesXattrs(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Links")
	eml := h.mb.AddItemAttachment(id, "Fwd", "message", "Forwarded")
	png := h.mb.AddInlineAttachment(id, "logo.png", "image/png", "logo@x", []byte("png"))
	h.must("cp", "/etc/hostname", filepath.Join(dir, "h.txt"))
	f := filepath.Join(dir, "h.txt")
	for _, args := range [][]string{
		{"ln", f, filepath.Join(dir, "hard")},
		{"ln", "-s", "h.txt", filepath.Join(dir, "soft")},
		{"mknod", filepath.Join(dir, "fifo"), "p"},
		{"mkfifo", filepath.Join(dir, "fifo2")},
		{"mkdir", filepath.Join(dir, "sub")},
	} {
		out, err := h.run(args[0], args[1:]...)
		if err == nil || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("%s: err=%v %q, want EPERM", strings.Join(args, " "), err, out)
		}
	}
	h.must("setfattr", "-n", "user.foo", "-v", "bar", f)
	h.must("setfattr", "-x", "user.foo", f)
	for _, attr := range []string{xattrState, xattrID} {
		out, err := h.run("setfattr", "-n", attr, "-v", "attached", f)
		if err == nil || !strings.Contains(out, "Operation not supported") {
			t.Errorf("setfattr %s: err=%v %q, want ENOTSUP", attr, err, out)
		}
		out, err = h.run("setfattr", "-x", attr, f)
		if err == nil || !strings.Contains(out, "Operation not supported") {
			t.Errorf("setfattr -x %s: err=%v %q, want ENOTSUP", attr, err, out)
		}
	}
	for p, aid := range map[string]string{filepath.Join(dir, "Fwd.eml"): eml, filepath.Join(dir, "inline", "logo@x"): png} {
		out := h.must("getfattr", "--absolute-names", "-d", "-m", "-", p)
		if !strings.Contains(out, `user.outlookfs.state="attached"`) || !strings.Contains(out, `user.outlookfs.id="`+aid+`"`) {
			t.Errorf("getfattr %s:\n%s", filepath.Base(p), out)
		}
		if out, err := h.run("setfattr", "-n", "user.foo", "-v", "bar", p); err != nil {
			t.Logf("setfattr user.foo on read-only %s: %v %s", filepath.Base(p), err, out)
		}
	}
}

// TestEdgeEvents: a copy into an event the user organises is attached to it; events outside the
// window (30 days back, 365 ahead) are not listed.
func TestEdgeEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	now := h.fsys.opts.Now().Truncate(time.Hour)
	day := 24 * time.Hour
	mine := h.mb.AddEvent("Planning", now.Add(2*day), now.Add(2*day+time.Hour), true)
	h.mb.AddEvent("Recent", now.Add(-10*day), now.Add(-10*day+time.Hour), true)
	h.mb.AddEvent("Long ago", now.Add(-60*day), now.Add(-60*day+time.Hour), true)
	h.mb.AddEvent("Far ahead", now.Add(400*day), now.Add(400*day+time.Hour), true)
	events := filepath.Join(h.dir, "events")
	ls := h.must("ls", events)
	for _, want := range []string{"Planning", "Recent"} {
		if !strings.Contains(ls, want) {
			t.Errorf("events/ does not list %q:\n%s", want, ls)
		}
	}
	for _, not := range []string{"Long ago", "Far ahead"} {
		if strings.Contains(ls, not) {
			t.Errorf("events/ lists %q, outside the window:\n%s", not, ls)
		}
	}
	dir := filepath.Join(events, now.Add(2*day).In(h.fsys.opts.Location).Format("2006-01-02 15.04")+" Planning")
	src, data := writeSource(t, 40_000, 21)
	h.must("cp", src, filepath.Join(dir, "agenda.bin"))
	h.wantAttachments(mine, map[string][]byte{"agenda.bin": data})
	if got := h.must("cat", filepath.Join(dir, "agenda.bin")); got != string(data) {
		t.Errorf("agenda.bin reads back %d bytes", len(got))
	}
}

// TestEdgeWriteInPlace: dd conv=notrunc into the middle of an attachment keeps the bytes around
// it (the current bytes are copied into the spool first).
func TestEdgeWriteInPlace(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("In place")
	h.mb.AddFileAttachment(id, "f.txt", "text/plain", []byte("0123456789"))
	f := filepath.Join(dir, "f.txt")
	h.sh(fmt.Sprintf("printf XY | dd of='%s' bs=1 seek=3 conv=notrunc 2>/dev/null", f))
	h.wantAttachments(id, map[string][]byte{"f.txt": []byte("012XY56789")})
	h.py("import sys\nwith open(sys.argv[1], 'r+b') as f:\n    f.seek(8)\n    f.write(b'--tail')", f)
	h.wantAttachments(id, map[string][]byte{"f.txt": []byte("012XY567--tail")})
}

// TestEdgeServerNameLooksScratch: an attachment that came from the server with a name that looks
// like a scratch file ("setup.part", "notes~", ".config") is an ordinary attachment to the user.
// Overwriting it with cp must update it (or fail): cp exiting 0 while nothing is uploaded - the
// new bytes only shadowing the attachment locally until they expire - loses the user's write.
func TestEdgeServerNameLooksScratch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Odd names")
	for _, n := range []string{"setup.part", "notes~", ".config"} {
		h.mb.AddFileAttachment(id, n, "application/octet-stream", []byte("old "+n))
	}
	h.must("ls", "-A", dir)
	for _, n := range []string{"setup.part", "notes~", ".config"} {
		if got := h.must("cat", filepath.Join(dir, n)); got != "old "+n {
			t.Errorf("%s reads %q", n, got)
		}
		src := filepath.Join(t.TempDir(), "new")
		os.WriteFile(src, []byte("new "+n), 0o644)
		out, err := h.run("cp", src, filepath.Join(dir, n))
		if err != nil {
			continue // refusing is honest
		}
		var got []string
		for _, a := range h.mb.Attachments(id) {
			if a.Name == n {
				got = append(got, string(a.Data))
			}
		}
		if len(got) != 1 || got[0] != "new "+n {
			t.Errorf("cp over the server's %q exited 0 (%q) but the server has %q for it", n, out, got)
		}
	}
}
