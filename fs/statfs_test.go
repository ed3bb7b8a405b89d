package fs

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStatfsEveryNode: statfs(2) answers alike on every node of the mount, not only the root:
// the room the spool has left (here its size limit, 64 MiB) and the name length a create
// accepts. Before, every node below the root answered zeros: a file manager checking the free
// space of a draft saw a full disk, and getconf NAME_MAX printed 0.
func TestStatfsEveryNode(t *testing.T) {
	t.Parallel()
	const limit = 64 << 20
	h := newHarness(t, harnessOptions{spoolMax: limit})
	id, dir := h.draft("Room")
	h.mb.AddFileAttachment(id, "a.txt", "text/plain", []byte("a"))
	h.mb.AddInlineAttachment(id, "logo.png", "image/png", "logo", []byte("png"))
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	h.mb.AddEvent("Standup", start, start.Add(time.Hour), true)
	events := filepath.Join(h.dir, "events")
	event := strings.TrimSpace(h.must("ls", events))
	if event == "" || strings.Contains(event, "\n") {
		t.Fatalf("events/ lists %q, want one event", event)
	}
	paths := []string{
		h.dir,
		filepath.Join(h.dir, "drafts"),
		events,
		filepath.Join(events, event),
		dir,
		filepath.Join(dir, "a.txt"),
		filepath.Join(dir, "inline"),
		filepath.Join(dir, "inline", "logo"),
		filepath.Join(h.dir, ".outlookfs"),
		filepath.Join(h.dir, ".outlookfs", "status"),
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(h.dir, p)
		// block size, fundamental block size, total blocks, available blocks, name length
		f := strings.Fields(h.must("stat", "-f", "-c", "%s %S %b %a %l", p))
		if len(f) != 5 {
			t.Fatalf("stat -f %s: %q", rel, f)
		}
		n := make([]int64, 5)
		for i := range f {
			n[i], _ = strconv.ParseInt(f[i], 10, 64)
		}
		bsize, frsize, total, avail, namelen := n[0], n[1], n[2], n[3], n[4]
		if bsize != statfsBlock || frsize != statfsBlock {
			t.Errorf("stat -f %s: block size %d, fundamental %d; want %d", rel, bsize, frsize, statfsBlock)
		}
		if namelen != maxNameBytes {
			t.Errorf("stat -f %s: name length %d, want %d", rel, namelen, maxNameBytes)
		}
		// The disk may be nearly full on a busy machine: then the spool has less than its limit.
		if total <= 0 || total*frsize > limit || avail <= 0 || avail > total {
			t.Errorf("stat -f %s: %d blocks, %d available (of %d bytes); want 0 < available <= total <= the spool's limit %d",
				rel, total, avail, frsize, limit)
		}
		if got := strings.TrimSpace(h.must("getconf", "NAME_MAX", p)); got != strconv.Itoa(maxNameBytes) {
			t.Errorf("getconf NAME_MAX %s = %s, want %d", rel, got, maxNameBytes)
		}
	}
	// The free space follows what the spool holds: a file being written takes room. (Unless the
	// disk has less room than the limit, the limit decides, to the block.)
	avail := func() int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(h.must("stat", "-f", "-c", "%a", dir)), 10, 64)
		return n
	}
	if got := avail(); got != limit/statfsBlock {
		t.Fatalf("stat -f of an empty spool limited to %d bytes: %d blocks available, want %d", limit, got, limit/statfsBlock)
	}
	out := h.py("import os,sys\nfd=os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o644)\nos.write(fd, b'x'*(8<<20))\n"+
		"print(os.statvfs(sys.argv[2]).f_bavail)\nos.close(fd)", filepath.Join(dir, "big.bin"), dir)
	if got, want := strings.TrimSpace(out), strconv.Itoa((limit-8<<20)/statfsBlock); got != want {
		t.Errorf("statvfs while 8 MiB are being written: %s blocks available, want %s", got, want)
	}
	h.wantAttachments(id, map[string][]byte{"a.txt": []byte("a"), "logo.png": []byte("png"), "big.bin": []byte(strings.Repeat("x", 8<<20))})
}
