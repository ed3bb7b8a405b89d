package spool_test

import (
	"os"
	"testing"

	"github.com/outlookfs/outlookfs/spool"
	"github.com/outlookfs/outlookfs/spool/spoolbench"
)

// TestMain lets this test binary also be the crash test's child process and
// the memory benchmark's child process.
func TestMain(m *testing.M) {
	spool.RunCrashChildIfAsked()
	spoolbench.RunChildIfAsked()
	os.Exit(m.Run())
}
