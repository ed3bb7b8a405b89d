package fs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
