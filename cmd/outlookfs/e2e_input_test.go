//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badInputEnv is what a bad-input case gets: its own emulator and mount.
type badInputEnv struct {
	g   *graphAPI
	m   *e2eMount
	src string
}

type badInputRow struct {
	name      string
	emuArgs   []string
	mountArgs []string
	tmpfsMB   int // > 0: the state directory is a tmpfs of this size
	run       func(t *testing.T, e badInputEnv)
}

// mkDraft makes a draft through the mount and returns its directory and Graph id.
func (e badInputEnv) mkDraft(t *testing.T, subject string) (string, string) {
	t.Helper()
	dir := filepath.Join(e.m.dir, "drafts", subject)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, e.g.draftID(subject)
}

// cpFails copies a file of size bytes, expects cp to fail with wantErr in its message, then
// (once the spool is quiet) nothing attached under that name.
func cpFails(t *testing.T, e badInputEnv, size int64, wantErr string) {
	t.Helper()
	dir, id := e.mkDraft(t, "Bad")
	f := makeSource(t, e.src, "f.bin", size, 7)
	out, err := runCp(f.path, filepath.Join(dir, f.name))
	t.Logf("cp of %d bytes: %v %s", size, err, out)
	if err == nil || !strings.Contains(out, wantErr) {
		t.Errorf("cp of %d bytes: %v %q, want a failure with %q", size, err, out, wantErr)
	}
	e.m.waitQuiet(2 * time.Minute)
	if n := len(e.g.attachments(id)[f.name]); n != 0 {
		t.Errorf("cp failed (%s), yet %s is attached %d times", out, f.name, n)
	}
}

// bigMessages lifts the message size limit, so that a cut-off part of a file over 35 MB would
// be attachable (and not refused for its size, hiding the defect).
var bigMessages = []string{"--message-size-limit", "300000000"}

var badInputTable = []badInputRow{
	{name: "write past 150 MiB is EFBIG", run: func(t *testing.T, e badInputEnv) {
		dir, id := e.mkDraft(t, "Bad")
		out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "huge.bin"), "bs=1M", "count=1", "seek=150").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "File too large") {
			t.Errorf("dd past 150 MiB: %v %s, want EFBIG", err, out)
		}
		e.m.waitQuiet(time.Minute)
		if n := len(e.g.attachments(id)["huge.bin"]); n != 0 {
			t.Errorf("huge.bin attached %d times after EFBIG", n)
		}
	}},
	{name: "over the message size limit is EFBIG", emuArgs: []string{"--message-size-limit", "8000000"}, run: func(t *testing.T, e badInputEnv) {
		cpFails(t, e, 10<<20, "File too large")
	}},
	{name: "refused names are EINVAL, with a log line each", run: func(t *testing.T, e badInputEnv) {
		dir, _ := e.mkDraft(t, "Bad")
		for _, name := range []string{"trailing ", " leading", "ctl\x01char", "inline", "bad\xffutf8"} {
			before := len(e.m.logs.String())
			err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
			if err == nil || !strings.Contains(err.Error(), "invalid argument") {
				t.Errorf("create %q: %v, want EINVAL", name, err)
			}
			// The line may reach the log's pipe just after the error reached us.
			deadline := time.Now().Add(5 * time.Second)
			for strings.TrimSpace(e.m.logs.String()[before:]) == "" {
				if time.Now().After(deadline) {
					t.Errorf("create %q was refused without a log line saying why", name)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}},
	{name: "spool full by size, sync", mountArgs: []string{"--spool-max", "20000000"}, run: func(t *testing.T, e badInputEnv) {
		cpFails(t, e, 40<<20, "No space left on device")
	}},
	{name: "spool full by size, async", mountArgs: []string{"--spool-max", "20000000", "--async"}, run: func(t *testing.T, e badInputEnv) {
		cpFails(t, e, 40<<20, "No space left on device")
	}},
	{name: "spool full by disk, sync", tmpfsMB: 50, emuArgs: bigMessages, run: func(t *testing.T, e badInputEnv) {
		cpFails(t, e, 80<<20, "No space left on device")
	}},
	{name: "spool full by disk, async", tmpfsMB: 50, emuArgs: bigMessages, mountArgs: []string{"--async"}, run: func(t *testing.T, e badInputEnv) {
		cpFails(t, e, 80<<20, "No space left on device")
	}},
	{name: "an event the user does not organise is read-only", run: func(t *testing.T, e badInputEnv) {
		dirs, _ := filepath.Glob(filepath.Join(e.m.dir, "events", "*All hands"))
		if len(dirs) != 1 {
			t.Fatalf("events/*All hands: %v", dirs)
		}
		out, err := runCp("/etc/hostname", filepath.Join(dirs[0], "x.txt"))
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("cp into a read-only event: %v %s, want EACCES", err, out)
		}
		if _, err := os.Stat(filepath.Join(dirs[0], "x.txt")); !os.IsNotExist(err) {
			t.Errorf("x.txt listed after EACCES: %v", err)
		}
	}},
	{name: "a draft deleted mid-copy", emuArgs: []string{"--bandwidth", "2000000"}, run: func(t *testing.T, e badInputEnv) {
		dir, id := e.mkDraft(t, "Doomed")
		f := makeSource(t, e.src, "f.bin", 8<<20, 3)
		target := filepath.Join(dir, f.name)
		type res struct {
			out string
			err error
		}
		done := make(chan res, 1)
		go func() { out, err := runCp(f.path, target); done <- res{out, err} }()
		waitState(t, target, "uploading", time.Minute)
		e.g.deleteMessage(id)
		select {
		case r := <-done:
			if r.err == nil || !strings.Contains(r.out, "No such file or directory") {
				t.Errorf("cp into a draft deleted mid-copy: %v %s, want ENOENT", r.err, r.out)
			}
		case <-time.After(3 * time.Minute):
			t.Fatal("cp still runs 3 minutes after its draft was deleted")
		}
		e.m.waitQuiet(time.Minute)
		if e.g.draftID("Doomed") != "" {
			t.Error("the deleted draft is back")
		}
	}},
	{name: "rmdir with an upload pending is ENOTEMPTY", emuArgs: []string{"--bandwidth", "2000000"}, mountArgs: []string{"--async"}, run: func(t *testing.T, e badInputEnv) {
		dir, id := e.mkDraft(t, "Pending")
		f := makeSource(t, e.src, "f.bin", 8<<20, 4)
		if out, err := runCp(f.path, filepath.Join(dir, f.name)); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if err := syscall.Rmdir(dir); err != syscall.ENOTEMPTY {
			t.Errorf("rmdir with an upload pending: %v, want ENOTEMPTY", err)
		}
		e.m.waitQuiet(2 * time.Minute)
		if e.g.draftID("Pending") == "" {
			t.Fatal("the draft is gone")
		}
		e.g.checkAttached(id, e.g.attachments(id), f, "after rmdir's ENOTEMPTY")
	}},
}

// TestE2EBadInput: each case with its own emulator and mount.
func TestE2EBadInput(t *testing.T) {
	for _, row := range badInputTable {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			info := startEmulatorProcess(t, row.emuArgs...)
			home := t.TempDir()
			if row.tmpfsMB > 0 {
				state := filepath.Join(home, "state")
				os.Mkdir(state, 0o700)
				if err := syscall.Mount("tmpfs", state, "tmpfs", 0, fmt.Sprintf("size=%dm,mode=0700", row.tmpfsMB)); err != nil {
					t.Fatalf("tmpfs: %v", err)
				}
				t.Cleanup(func() {
					if err := syscall.Unmount(state, 0); err != nil {
						syscall.Unmount(state, syscall.MNT_DETACH)
					}
				})
			}
			m := startMount(t, info, home, append([]string{"--landing-window", "5s"}, row.mountArgs...)...)
			row.run(t, badInputEnv{g: newGraphAPI(t, info), m: m, src: t.TempDir()})
			m.term(time.Minute)
		})
	}
}
