package fs

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statNs returns the mode bits, mtime and ctime (ns) of p, as a program sees them.
func (h *harness) statNs(p string) (mode string, mtime, ctime int64) {
	h.t.Helper()
	f := strings.Fields(h.py("import os,sys\nst=os.stat(sys.argv[1])\nprint(oct(st.st_mode & 0o7777), st.st_mtime_ns, st.st_ctime_ns)", p))
	if len(f) != 3 {
		h.t.Fatalf("stat %s: %q", p, f)
	}
	mtime, _ = strconv.ParseInt(f[1], 10, 64)
	ctime, _ = strconv.ParseInt(f[2], 10, 64)
	return f[0], mtime, ctime
}

// TestModeZeroIsKept: mode 0 is a mode like any other: a file created with it, or chmod'ed to
// it, reads back 0 (it used to read back 0644, 0 meaning "not set").
func TestModeZeroIsKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	_, dir := h.draft("Modes")
	created := filepath.Join(dir, "created")
	h.py("import os,sys\nos.close(os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0))", created)
	chmodded := filepath.Join(dir, "chmodded")
	h.sh("printf x > '" + chmodded + "' && chmod 0 '" + chmodded + "'")
	for _, p := range []string{created, chmodded} {
		if mode, _, _ := h.statNs(p); mode != "0o0" {
			t.Errorf("%s: mode %s, want 0", filepath.Base(p), mode)
		}
	}
	h.must("chmod", "640", chmodded)
	if mode, _, _ := h.statNs(chmodded); mode != "0o640" {
		t.Errorf("after chmod 640: mode %s", mode)
	}
}

// TestTruncateAndChmodTimes: as POSIX says, truncate(2), ftruncate(2) and open(O_TRUNC) update
// mtime and ctime even when nothing is written after them; chmod and chown update ctime and leave
// mtime alone. Before, truncates left both times as they were and ctime was always mtime.
func TestTruncateAndChmodTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	_, dir := h.draft("Times")
	const past = 1577836800 // 2020-01-01
	for _, tc := range []struct {
		name       string
		script     string // python, the file in sys.argv[1]
		mtimeMoves bool
	}{
		{"truncate", "import os,sys\nos.truncate(sys.argv[1], 3)", true},
		{"ftruncate", "import os,sys\nfd=os.open(sys.argv[1], os.O_RDWR)\nos.ftruncate(fd, 2)\nos.close(fd)", true},
		{"O_TRUNC", "import os,sys\nos.close(os.open(sys.argv[1], os.O_WRONLY|os.O_TRUNC))", true},
		{"chmod", "import os,sys\nos.chmod(sys.argv[1], 0o600)", false},
		{"chown", "import os,sys\nos.chown(sys.argv[1], os.getuid(), os.getgid())", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			h.sh("printf 'hello' > '" + p + "' && touch -d @" + strconv.Itoa(past) + " '" + p + "'")
			_, m0, c0 := h.statNs(p)
			if m0 != past*1e9 {
				t.Fatalf("touch -d: mtime %d, want %d", m0, past*int64(1e9))
			}
			start := time.Now().UnixNano()
			h.py(tc.script, p)
			_, m1, c1 := h.statNs(p)
			if c1 <= c0 || c1 < start-int64(time.Second) {
				t.Errorf("ctime %d after %s, was %d (the %s started at %d): want it updated", c1, tc.name, c0, tc.name, start)
			}
			switch {
			case tc.mtimeMoves && m1 < start-int64(time.Second):
				t.Errorf("mtime %d after %s, want updated (the %s started at %d)", m1, tc.name, tc.name, start)
			case !tc.mtimeMoves && m1 != m0:
				t.Errorf("mtime %d after %s, want it unchanged (%d)", m1, tc.name, m0)
			}
		})
	}
}

// TestDraftDirectoryTime: a draft directory's mtime is the draft's lastModifiedDateTime, and it
// follows it when the listing is refreshed (it stayed at the first lookup's for the whole mount).
// Graph moves it when the draft changes, an attachment added or removed included.
func TestDraftDirectoryTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Moving")
	modified := func() int64 {
		it, ok := h.mb.Item(id)
		if !ok {
			t.Fatal("the draft is gone")
		}
		return it.Modified.UnixNano()
	}
	// Graph's times have a precision of 100 ns at best (seconds, in practice); the emulator's
	// are rendered with 7 decimals.
	near := func(a, b int64) bool { return a-b < 100 && b-a < 100 }
	// A process working in the directory pins its inode: the kernel could otherwise forget it
	// between two stats, and a node made afresh would show the new time whatever the fix.
	pin := exec.Command("sleep", "120")
	pin.Dir = dir
	if err := pin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pin.Process.Kill(); _ = pin.Wait() })
	_, m0, _ := h.statNs(dir)
	if want := modified(); !near(m0, want) {
		t.Fatalf("the draft directory's mtime is %d, want the draft's lastModifiedDateTime %d", m0, want)
	}
	for first := modified(); modified() == first; {
		h.mb.AddFileAttachment(id, "added.txt", "text/plain", []byte("added"))
	}
	want := modified()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, m, _ := h.statNs(dir)
		if near(m, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the draft directory's mtime is %d 30 s after the draft changed, want %d", m, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
