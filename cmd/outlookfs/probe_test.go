package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmulatorProbes runs scripts/probe-emulator.sh, the raw-HTTP probes of the emulator's
// strict behaviours (curl against `outlookfs emulator`), on the built binary: every probe must
// get the answer Graph gives.
func TestEmulatorProbes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "../../scripts/probe-emulator.sh", builtBinary).CombinedOutput()
	if err != nil {
		t.Fatalf("probe-emulator.sh: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\nok "); n < 20 {
		t.Fatalf("only %d probes passed:\n%s", n, out)
	}
}

// TestMountSpeaksHTTP2: the mount's requests to Graph and to the upload host go over HTTP/2
// when the service offers it, and it reads gzip'ed answers, as Graph sends both (the
// emulator's default), so its transport is exercised as in production.
func TestMountSpeaksHTTP2(t *testing.T) {
	info := startEmulatorProcess(t)
	dir, _, _, _ := mountProcessIn(t, info, t.TempDir())
	draft := filepath.Join(dir, "drafts", "Over HTTP2")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", src, draft).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	waitEmulatorIdle(t, info, time.Minute)
	var recs []struct {
		Host, Method, Proto, Path string
		Gzip                      bool
	}
	getJSON(t, clientFor(t, info.CA), "", strings.TrimSuffix(info.Graph, "/v1.0")+"/_emulator/requests", &recs)
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Proto != "HTTP/2.0" {
			t.Errorf("%s %s %s went over %s", r.Host, r.Method, r.Path, r.Proto)
		}
		seen[r.Host] = true
		seen["gzip"] = seen["gzip"] || r.Gzip
	}
	if !seen["gzip"] {
		t.Error("no answer was gzip'ed: the mount's transport did not ask for it")
	}
	if !seen["graph"] || !seen["upload"] {
		t.Fatalf("requests seen on %v, want both hosts", seen)
	}
}
