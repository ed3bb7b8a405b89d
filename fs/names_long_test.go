package fs

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNameTooLong: a name over 255 bytes is ENAMETOOLONG ("File name too long") for every
// operation, as on any Linux filesystem (pjdfstest's */02.t), not EINVAL or ENOENT; 255 bytes
// are fine.
func TestNameTooLong(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, dir := h.draft("Long names")
	long := strings.Repeat("x", 256)
	drafts := filepath.Join(h.dir, "drafts")
	for _, args := range [][]string{
		{"touch", filepath.Join(dir, long)},
		{"stat", filepath.Join(dir, long)},
		{"rm", filepath.Join(dir, long)},
		{"truncate", "-s", "1", filepath.Join(dir, long)},
		{"mkdir", filepath.Join(drafts, long)},
		{"stat", filepath.Join(drafts, long)},
	} {
		out, err := h.run(args[0], args[1:]...)
		if err == nil || !strings.Contains(out, "File name too long") {
			t.Errorf("%s of a 256-byte name: %v %q, want ENAMETOOLONG", args[0], err, out)
		}
	}
	h.must("touch", filepath.Join(dir, strings.Repeat("y", 255)))
}
