package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/cache"
	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
	"github.com/outlookfs/outlookfs/spool"
)

const testUPN = "user@outlookfs.test"

// harness is a real FUSE mount of outlookfs against an in-process emulator. Programs are run
// against it as subprocesses; results are checked in the emulator's mailbox.
type harness struct {
	t      *testing.T
	srv    *graphtest.Server
	mb     *graphtest.Mailbox
	dir    string
	fsys   *FS
	spool  *spool.Spool
	server *fuse.Server
	logs   *graphtest.LogBuffer
	// spoolDir is where the spool lives; close unmounts and closes it (also done at cleanup).
	spoolDir string
	cacheDir string // where the metadata and content cache lives
	close    func()
}

type harnessOptions struct {
	srv         *graphtest.Server // reuse this emulator (and its mailbox) instead of starting one
	spoolDir    string            // reuse this spool (a remount) instead of a new one
	cacheDir    string            // reuse this cache (a remount) instead of a new one
	emu         graphtest.Options
	async       bool
	maxFileSize int64
	spoolMax    int64         // the spool's MaxBytes (--spool-max); 0: none
	landing     time.Duration // the spool's LandingWindow; 0: its default
	syncRetry   time.Duration // Options.SyncRetryWindow; 0: its default
}

func newHarness(t *testing.T, ho harnessOptions) *harness {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("these tests need /dev/fuse: %v", err)
	}
	srv := ho.srv
	if srv == nil {
		srv = graphtest.StartT(t, ho.emu)
		srv.Emulator.AddMailbox(testUPN)
	}
	mb := srv.Emulator.Mailbox(testUPN)
	spoolDir := ho.spoolDir
	if spoolDir == "" {
		spoolDir = filepath.Join(t.TempDir(), "spool")
	}
	logs := &graphtest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	client, err := graph.New(graph.Config{BaseURL: srv.GraphURL, Tokens: graph.StaticToken(mb.Token()),
		HTTPClient: srv.HTTPClient(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cacheDir := ho.cacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(t.TempDir(), "cache")
	}
	cc, err := retryLocked(func() (*cache.Cache, error) { return cache.Open(cache.Options{Dir: cacheDir, Logger: log}) })
	if err != nil {
		t.Fatal(err)
	}
	sp, err := retryLocked(func() (*spool.Spool, error) {
		return spool.Open(ctx, spool.Options{Dir: spoolDir, Uploader: client, Logger: log, MaxBytes: ho.spoolMax,
			LandingWindow: ho.landing, Content: cc})
	})
	if err != nil {
		t.Fatal(err)
	}
	f := New(Options{Backend: client, Spool: sp, Cache: cc, Logger: log, Async: ho.async,
		MaxFileSize: ho.maxFileSize, SyncRetryWindow: ho.syncRetry, ListingTTL: time.Second, Describe: testUPN})
	dir := t.TempDir()
	server, err := Mount(dir, f, MountOptions{Debug: os.Getenv("OUTLOOKFS_FUSE_DEBUG") != ""})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, mb: mb, dir: dir, fsys: f, spool: sp, server: server, logs: logs, spoolDir: spoolDir, cacheDir: cacheDir}
	h.close = sync.OnceFunc(func() {
		unmount(t, server, dir)
		sp.Close()
		cc.Close()
	})
	t.Cleanup(func() {
		h.close()
		if t.Failed() {
			t.Logf("filesystem log:\n%s", logs.String())
		}
	})
	return h
}

// retryLocked opens a Badger database (a remount's spool or cache) again while its directory
// lock is still held, for up to 10 s. Closing a database releases the lock only once no
// descriptor of its directory is left, and a program another test is starting holds copies of
// every descriptor between its fork and its exec: under load, long enough for the reopen.
func retryLocked[T any](open func() (T, error)) (T, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := open()
		if err == nil || !strings.Contains(err.Error(), "Cannot acquire directory lock") || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unmount unmounts with a timeout and falls back to a lazy unmount, so a failing test never
// leaves a mount behind.
func unmount(t *testing.T, server *fuse.Server, dir string) {
	done := make(chan error, 1)
	go func() { done <- server.Unmount() }()
	select {
	case err := <-done:
		if err == nil {
			server.Wait()
			return
		}
		t.Logf("unmount %s: %v; detaching lazily", dir, err)
	case <-time.After(10 * time.Second):
		t.Logf("unmount %s timed out; detaching lazily", dir)
	}
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		t.Logf("lazy unmount %s: %v", dir, err)
	}
}

// run runs a program (outside the mount) with a timeout and returns its combined output.
func (h *harness) run(name string, args ...string) (string, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a program and fails the test if it fails.
func (h *harness) must(name string, args ...string) string {
	h.t.Helper()
	out, err := h.run(name, args...)
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (h *harness) sh(script string) string {
	h.t.Helper()
	return h.must("sh", "-c", script)
}

// draft makes a draft and returns its id and directory.
func (h *harness) draft(subject string) (string, string) {
	id := h.mb.AddDraft(subject)
	return id, filepath.Join(h.dir, "drafts", subject)
}

// attachments returns the draft's attachments by name, failing on duplicates.
func (h *harness) attachments(itemID string) map[string][]byte {
	h.t.Helper()
	out := map[string][]byte{}
	for _, a := range h.mb.Attachments(itemID) {
		if _, dup := out[a.Name]; dup {
			h.t.Fatalf("attachment %q is there twice", a.Name)
		}
		out[a.Name] = a.Data
	}
	return out
}

// wantAttachments checks the item has exactly these attachments with these bytes.
func (h *harness) wantAttachments(itemID string, want map[string][]byte) {
	h.t.Helper()
	got := h.attachments(itemID)
	for name, data := range want {
		g, ok := got[name]
		if !ok {
			h.t.Errorf("attachment %q missing; have %v", name, keys(got))
			continue
		}
		if !bytes.Equal(g, data) {
			h.t.Errorf("attachment %q: %d bytes (sha %x), want %d bytes (sha %x)", name, len(g), sha(g), len(data), sha(data))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			h.t.Errorf("unexpected attachment %q", name)
		}
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:6] }

// writeSource writes n deterministic pseudo-random bytes to a file outside the mount.
func writeSource(t *testing.T, n int64, seed int64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	p := filepath.Join(t.TempDir(), fmt.Sprintf("src-%d", n))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// eventually polls cond until it holds, failing the test after within. Tests wait on what they
// can observe (the mailbox, the request log, the spool) rather than sleep: on a loaded machine
// any fixed sleep is sometimes too short.
func (h *harness) eventually(within time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFaultsHit waits until every injected fault that hits a limited number of requests has
// hit them all: a delayed request is then being held by the emulator.
func (h *harness) waitFaultsHit() {
	h.t.Helper()
	h.eventually(time.Minute, "the injected faults to hit their requests", func() bool {
		for _, f := range h.srv.Emulator.Faults() {
			if f.Count >= 0 {
				return false
			}
		}
		return true
	})
}

// waitIdle waits until the emulator serves no request: a held or late request has ended.
func (h *harness) waitIdle() {
	h.t.Helper()
	h.eventually(time.Minute, "the emulator to serve no request", func() bool {
		return h.srv.Emulator.InFlight() == 0
	})
}

// relist waits until the listing l of dir is older than the harness's ListingTTL (1 s), then
// lists dir until l has been fetched from Graph again: what the test does next sees Graph's
// listing, not the one the mount had in memory (an ls after the TTL only starts the refresh).
func (h *harness) relist(dir string, l interface{ fetchCount() uint64 }) {
	h.t.Helper()
	before := l.fetchCount()
	time.Sleep(1100 * time.Millisecond) // a lower bound: the listing must be that old to be refreshed
	h.eventually(time.Minute, "a refresh of the listing of "+dir, func() bool {
		h.must("ls", dir)
		return l.fetchCount() > before
	})
}
