package main

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestLoopbackBaselineWritesReachTheServer: the goal's baseline is the loopback with
// passthrough off, so a write to it must reach its FUSE server (with passthrough, as root on a
// kernel that has it, the kernel writes the backing file and the server sees no WRITE).
func TestLoopbackBaselineWritesReachTheServer(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("this test needs /dev/fuse: %v", err)
	}
	back, mnt := t.TempDir(), t.TempDir()
	root, err := loopbackRoot(back)
	if err != nil {
		t.Fatal(err)
	}
	var logged graphtest.LogBuffer
	srv, err := gofs.Mount(mnt, root, &gofs.Options{
		MountOptions: fuse.MountOptions{DirectMountStrict: os.Geteuid() == 0, Debug: true, Logger: log.New(&logged, "", 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if srv.Unmount() != nil {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	want := bytes.Repeat([]byte("outlookfs"), 1000)
	if err := os.WriteFile(filepath.Join(mnt, "f"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(back, "f"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("backing file: %d bytes, %v; want the %d written", len(got), err, len(want))
	}
	if !strings.Contains(logged.String(), ": WRITE ") {
		t.Fatalf("no WRITE reached the loopback's server: passthrough is on")
	}
}
