package fs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCreateReadOnlyAttaches: a file created with O_CREAT|O_RDONLY (pjdfstest's way of making a
// file) is a new file, which counts as written: its close attaches it, empty. Before, it stayed
// "spooled", listed as writing in .outlookfs/uploads forever, and was abandoned after a remount.
func TestCreateReadOnlyAttaches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		async bool
	}{{"sync", false}, {"async", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{async: tc.async})
			id, dir := h.draft("Created")
			p := filepath.Join(dir, "c")
			h.py("import os,sys\nos.close(os.open(sys.argv[1], os.O_CREAT|os.O_EXCL|os.O_RDONLY, 0o644))", p)
			if tc.async {
				h.waitState(p, "attached")
			}
			h.wantAttachments(id, map[string][]byte{"c": {}})
			if st := h.state(p); st != "attached" {
				t.Errorf("state of the created file: %q, want attached", st)
			}
			if up := h.must("cat", filepath.Join(h.dir, ".outlookfs", "uploads")); strings.TrimSpace(up) != "" {
				t.Errorf(".outlookfs/uploads lists:\n%s", up)
			}
		})
	}
}

// waitState polls the state xattr of p until it reads want (an --async upload ends in the
// background), failing after a minute.
func (h *harness) waitState(p, want string) {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := h.state(p)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: state %q after a minute, want %q", p, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
