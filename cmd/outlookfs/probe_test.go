package main

import (
	"context"
	"os/exec"
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
