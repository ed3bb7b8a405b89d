package fs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestAsyncRemountKeepsTimes: files closed with --async whose uploads have not happened yet
// (Graph answers 503 here) keep their modification times across a remount with the same spool:
// the one cp -p preserved and the one plain cp wrote. ls -l and rsync's quick check read them;
// they used to show the epoch (1970) after the remount.
func TestAsyncRemountKeepsTimes(t *testing.T) {
	h1 := newHarness(t, harnessOptions{async: true})
	h1.srv.Emulator.Inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/attachments", Status: 503, Count: -1})
	_, dir := h1.draft("Times")
	src, _ := writeSource(t, 1000, 1)
	h1.must("touch", "-d", "2020-01-02 03:04:05 UTC", src)
	h1.must("cp", "-p", src, filepath.Join(dir, "preserved.bin"))
	h1.must("cp", src, filepath.Join(dir, "plain.bin"))
	before := map[string]string{}
	for _, name := range []string{"preserved.bin", "plain.bin"} {
		before[name] = strings.TrimSpace(h1.must("stat", "-c", "%Y", filepath.Join(dir, name)))
	}
	if want := "1577934245"; before["preserved.bin"] != want {
		t.Errorf("cp -p: mtime %s, want %s", before["preserved.bin"], want)
	}
	h1.close()

	h2 := newHarness(t, harnessOptions{async: true, srv: h1.srv, spoolDir: h1.spoolDir})
	dir = filepath.Join(h2.dir, "drafts", "Times")
	for _, name := range []string{"preserved.bin", "plain.bin"} {
		p := filepath.Join(dir, name)
		if st := h2.must("getfattr", "--absolute-names", "--only-values", "-n", "user.outlookfs.state", p); st == "attached" {
			t.Fatalf("%s: attached; the test wants it still in the spool", name)
		}
		got := strings.TrimSpace(h2.must("stat", "-c", "%Y", p))
		if got != before[name] {
			t.Errorf("%s: mtime %s after the remount, %s before", name, got, before[name])
		}
	}
	// And the plain copy's time is now-ish, not the epoch.
	sec, _ := strconv.ParseInt(before["plain.bin"], 10, 64)
	if d := time.Since(time.Unix(sec, 0)); d < 0 || d > time.Hour {
		t.Errorf("plain.bin: mtime %s is not the time of the copy", before["plain.bin"])
	}
}

// TestRemountShowsLocalChanges: what this mount changed shows at once after a remount with the
// same cache, although the listings it cached were fetched before the changes. A file cp
// attached (also in the background, with --async), a draft mkdir made, an attachment rm
// deleted: a remount used to serve the cached listings from before them for up to the listing
// TTL (15 s by default), so the draft looked empty, the new draft did not exist, and a script
// that copies a file when it is not there attached it a second time.
func TestRemountShowsLocalChanges(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			h1 := newHarness(t, harnessOptions{async: async})
			id, dir := h1.draft("Remount")
			h1.mb.AddFileAttachment(id, "old.txt", "text/plain", []byte("old"))
			h1.must("ls", "-l", filepath.Join(h1.dir, "drafts"), dir) // cached: both listings, before the changes
			src, data := writeSource(t, 1000, 5)
			h1.must("rm", filepath.Join(dir, "old.txt"))
			h1.must("mkdir", filepath.Join(h1.dir, "drafts", "Made here"))
			h1.must("cp", src, filepath.Join(dir, "new.bin"))
			h1.waitAll(t, id)
			h1.close()

			h2 := newHarness(t, harnessOptions{async: async, srv: h1.srv, spoolDir: h1.spoolDir, cacheDir: h1.cacheDir})
			dir = filepath.Join(h2.dir, "drafts", "Remount")
			for _, tc := range []struct{ cmd, want string }{
				{"ls " + dir, "new.bin\n"},
				{"test -d '" + filepath.Join(h2.dir, "drafts", "Made here") + "' && echo yes", "yes\n"},
				{"ls '" + filepath.Join(h2.dir, "drafts") + "' | grep -c 'Made here'", "1\n"},
			} {
				if got, _ := h2.run("sh", "-c", tc.cmd); got != tc.want {
					t.Errorf("%s right after the remount: %q, want %q", tc.cmd, got, tc.want)
				}
			}
			h2.sh("test -e '" + filepath.Join(dir, "new.bin") + "' || cp '" + src + "' '" + filepath.Join(dir, "new.bin") + "'")
			h2.waitAll(t, id)
			h2.wantAttachments(id, map[string][]byte{"new.bin": data})
		})
	}
}

// TestPreservedModes: cp -p, cp -a and mv (from another filesystem) keep the source's mode. They
// set it through the system.posix_acl_access xattr, not chmod, and the file used to stay at the
// 0600 they create it with. The mode is kept locally only; the attachment is the same.
func TestPreservedModes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Modes")
	want := map[string][]byte{}
	for i, tc := range []struct {
		name string
		args func(src, dst string) []string
	}{
		{"cp-p.bin", func(src, dst string) []string { return []string{"cp", "-p", src, dst} }},
		{"cp-a.bin", func(src, dst string) []string { return []string{"cp", "-a", src, dst} }},
		{"mv.bin", func(src, dst string) []string { return []string{"mv", src, dst} }},
		{"cp.bin", func(src, dst string) []string { return []string{"cp", src, dst} }}, // chmod-free: the created mode
	} {
		src, data := writeSource(t, 5000, int64(40+i))
		h.must("chmod", "640", src)
		dst := filepath.Join(dir, tc.name)
		args := tc.args(src, dst)
		h.must(args[0], args[1:]...)
		want[tc.name] = data
		if got := strings.TrimSpace(h.must("stat", "-c", "%a", dst)); got != "640" {
			t.Errorf("%s: mode %s, want 640", strings.Join(args[:len(args)-2], " "), got)
		}
	}
	h.wantAttachments(id, want)
}

// TestTwoReadersOneSlow: two programs read the same attachment (not cached yet), each through
// its own download; only one of them may fill the content cache. The slow one (it pauses after
// 1 MiB) owns the fill. The other drops its pages and reads backwards, which is served from the
// cache once it is filled: that read used to wait for the slow reader's fill without bound while
// the kernel kept its page locked, and the slow reader, needing that very page to go on, waited
// for it: both hung for good. Kernel readahead that arrives out of order does the same to plain
// concurrent cats (seen as three cats hanging in TestStreamingRead).
func TestTwoReadersOneSlow(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Two readers")
	_, data := writeSource(t, 6*mib+3, 91)
	h.mb.AddFileAttachment(id, "shared.bin", "application/octet-stream", data)
	p := filepath.Join(dir, "shared.bin")
	h.must("stat", p)
	want := fmt.Sprintf("%x", sha256sum(data))

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	slow := exec.CommandContext(ctx, "python3", "-c", `
import hashlib, sys, time
f = open(sys.argv[1], "rb")
h = hashlib.sha256(f.read(1 << 20))
print("ready", flush=True)
time.sleep(3)
while True:
    b = f.read(1 << 17)
    if not b:
        break
    h.update(b)
print(h.hexdigest(), flush=True)
`, p)
	out, err := slow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the slow reader did not start: %q %v", line, err)
	}
	back, err := exec.CommandContext(ctx, "python3", "-c", `
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
head = os.read(fd, 3 << 19)  # 1.5 MiB
while len(head) < 3 << 19:
    head += os.read(fd, (3 << 19) - len(head))
os.read(fd, 1 << 19)  # on to 2 MiB
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # the kernel forgets the pages
os.lseek(fd, 3 << 19, os.SEEK_SET)  # and back: a read behind the download
h = hashlib.sha256(head)
while True:
    b = os.read(fd, 1 << 17)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
`, p).CombinedOutput()
	if err != nil || strings.TrimSpace(string(back)) != want {
		t.Errorf("the reader going back: %v %q, want %s", err, back, want)
	}
	rest, _ := io.ReadAll(r)
	if err := slow.Wait(); err != nil || strings.TrimSpace(string(rest)) != want {
		t.Errorf("the slow reader: %v %q, want %s", err, rest, want)
	}
}
