package fs

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
	"github.com/outlookfs/outlookfs/spool"
)

// TestUnlinkWhileWriting: unlink of a file while another descriptor holds unsaved writes
// deletes it: the attachment goes (also after a remount), the name is free, and the descriptor
// keeps working on the unlinked file, POSIX-style: reads see its writes, more writes and fstat
// work (st_nlink 0), and its close succeeds and attaches nothing. Before, unlink returned 0 yet
// the attachment stayed with its old bytes, and every use of the descriptor failed with EIO.
// Cases: an attachment with a write pending on it, a new file not attached yet, a file whose
// earlier version is still being uploaded (--async).
func TestUnlinkWhileWriting(t *testing.T) {
	t.Parallel()
	const script = `import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
os.pwrite(fd, b'XX', 0)
os.unlink(p)
assert not os.path.exists(p), 'still there after unlink'
assert p.rsplit('/', 1)[1] not in os.listdir(os.path.dirname(p)), 'still listed after unlink'
got = os.pread(fd, 100, 0)
assert got == b'XX' + sys.argv[2].encode()[2:], got
os.pwrite(fd, b'more', 10)
st = os.fstat(fd)
assert st.st_nlink == 0 and st.st_size == 14, (st.st_nlink, st.st_size)
assert os.pread(fd, 100, 10) == b'more'
os.fsync(fd)
os.close(fd)
print('ok')
`
	for _, tc := range []struct {
		name  string
		async bool
		local bool // f is a new file still being written by a third descriptor, not attached yet
	}{
		{"attached", false, false},
		{"attached-async", true, false},
		{"local", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{async: tc.async})
			id, dir := h.draft("Unlink")
			h.mb.AddFileAttachment(id, "other.txt", "text/plain", []byte("other"))
			p := filepath.Join(dir, "f")
			if tc.local {
				// a file still being written by another descriptor (not attached yet)
				h.py(`import os, sys, subprocess
p = sys.argv[1]
w = os.open(p, os.O_CREAT|os.O_WRONLY, 0o644)
os.write(w, b'v1v1v1')
out = subprocess.run(['python3', '-c', sys.argv[2], p, 'v1v1v1'], capture_output=True, text=True)
assert out.stdout.strip() == 'ok', out.stdout + out.stderr
os.close(w)
`, p, script)
			} else {
				h.sh("printf v1v1v1 > '" + p + "'")
				if tc.async {
					h.waitState(p, "attached")
				}
				if out := strings.TrimSpace(h.py(script, p, "v1v1v1")); out != "ok" {
					t.Fatalf("the descriptor of the unlinked file: %s", out)
				}
			}
			h.wantAttachments(id, map[string][]byte{"other.txt": []byte("other")})
			if ls := strings.TrimSpace(h.must("ls", "-A", dir)); ls != "other.txt" {
				t.Errorf("the draft lists %q after the unlink", ls)
			}
			if up := strings.TrimSpace(h.must("cat", filepath.Join(h.dir, ".outlookfs", "uploads"))); up != "" {
				t.Errorf(".outlookfs/uploads lists:\n%s", up)
			}
			for _, m := range h.spool.All() {
				if m.State != spool.StateAttached {
					t.Errorf("the spool still holds %+v", m)
				}
			}
			h.close()
			h2 := newHarness(t, harnessOptions{srv: h.srv, spoolDir: h.spoolDir, cacheDir: h.cacheDir})
			if ls := strings.TrimSpace(h2.must("ls", "-A", filepath.Join(h2.dir, "drafts", "Unlink"))); ls != "other.txt" {
				t.Errorf("after a remount the draft lists %q", ls)
			}
			h2.wantAttachments(id, map[string][]byte{"other.txt": []byte("other")})
		})
	}
}

// TestUnlinkDuringClose: a file unlinked while its synchronous close waits for the upload:
// the close returns 0 (the file was closed; POSIX close does not fail because the name went)
// and, whichever came first, the unlink or the end of the upload, nothing stays attached.
// Before, the close failed with EIO and logged an error ("could not attach f").
func TestUnlinkDuringClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{emu: graphtest.Options{Bandwidth: 2_000_000}})
	id, dir := h.draft("Unlink during close")
	src, _ := writeSource(t, 6*mib, 51)
	p := filepath.Join(dir, "f.bin")
	cp := exec.Command("cp", src, p)
	out := &bytes.Buffer{}
	cp.Stdout, cp.Stderr = out, out
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Wait() }()
	// cp's close waits for the upload: unlink once it has begun (or once cp is done, the other
	// legitimate order).
	deadline := time.Now().Add(time.Minute)
	waiting := true
	for waiting {
		select {
		case err := <-done:
			done <- err
			waiting = false
		default:
			if m, ok := h.spoolMeta(id, "f.bin"); ok && m.State == spool.StateUploading {
				waiting = false
			} else if time.Now().After(deadline) {
				t.Fatal("the upload never began")
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	h.must("rm", p)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cp of a file unlinked during its close: %v\n%s", err, out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("cp did not end")
	}
	h.wantAttachments(id, map[string][]byte{})
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("an unlink during a close logged an error:\n%s", h.logs.String())
	}
}

// spoolMeta finds the spool's record of a name in an item.
func (h *harness) spoolMeta(itemID, name string) (spool.Meta, bool) {
	for _, m := range h.spool.All() {
		if m.Item.ID == itemID && m.Name == name {
			return m, true
		}
	}
	return spool.Meta{}, false
}
