//go:build e2e

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestE2EKill9 kills the mount (-9) at random points of copies of mixed sizes, remounts with the
// same spool and checks Graph: every acknowledged file (cp exited 0) attached exactly once and
// byte-identical; a failed synchronous copy absent unless Graph already had it when the process
// died (the kill fell between Graph's answer and the close's reply), and then at most once,
// identical; a failed --async copy at most once, identical (its close may have been durable
// before the kill cut the reply). OUTLOOKFS_E2E_KILLS sets the kill points per mode (default 12,
// so 24 in all); OUTLOOKFS_E2E_SEED replays a run.
func TestE2EKill9(t *testing.T) {
	seed := e2eSeed(t)
	kills := 12
	if s := os.Getenv("OUTLOOKFS_E2E_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	for i, mode := range []string{"async", "sync"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			killRounds(t, mode == "async", kills, seed+uint64(i))
		})
	}
}

// killSizes are the size classes copied: many small, some around the 3 MiB switch to upload
// sessions, a few larger; one 150 MiB file per mode.
var killSizes = []func(r *rand.Rand) int64{
	func(*rand.Rand) int64 { return 0 },
	func(r *rand.Rand) int64 { return 1 + r.Int64N(4096) },
	func(r *rand.Rand) int64 { return 4096 + r.Int64N(1<<20) },
	func(r *rand.Rand) int64 { return 3<<20 - 2048 + r.Int64N(4096) },
	func(r *rand.Rand) int64 { return 4<<20 + r.Int64N(8<<20) },
}

type copyResult struct {
	src srcFile
	ok  bool
	out string
}

func killRounds(t *testing.T, async bool, rounds int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	info := startEmulatorProcess(t, "--message-size-limit", "300000000")
	g := newGraphAPI(t, info)
	home := t.TempDir()
	srcDir := t.TempDir()
	args := []string{"--landing-window", "5s"}
	if async {
		args = append(args, "--async")
	}
	m := startMount(t, info, home, args...)
	bigRound := r.IntN(rounds)
	for round := 0; round < rounds; round++ {
		subject := fmt.Sprintf("Kill %02d", round)
		if err := os.Mkdir(filepath.Join(m.dir, "drafts", subject), 0o755); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		var files []srcFile
		for i := 0; i < 5; i++ {
			size := killSizes[r.IntN(len(killSizes))](r)
			files = append(files, makeSource(t, srcDir, fmt.Sprintf("r%02d-f%d.bin", round, i), size, r.Uint64()))
		}
		if round == bigRound {
			files = append(files, makeSource(t, srcDir, fmt.Sprintf("r%02d-big.bin", round), 150<<20, r.Uint64()))
		}
		// Most small copies end within half a second: kill within 0.8 s (while they write,
		// close or upload), the round with the 150 MiB file within 0.3-3 s.
		delay := time.Duration(r.Int64N(int64(800 * time.Millisecond)))
		if round == bigRound {
			delay = 300*time.Millisecond + time.Duration(r.Int64N(int64(2700*time.Millisecond)))
		}
		results := make([]copyResult, len(files))
		var wg sync.WaitGroup
		for i, f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := runCp(f.path, filepath.Join(m.dir, "drafts", subject, f.name))
				results[i] = copyResult{src: f, ok: err == nil, out: out}
			}()
		}
		time.Sleep(delay) // the kill point itself, not a wait before an assertion
		m.kill9()
		wg.Wait()
		// What Graph holds the moment the killed process's requests have all ended.
		waitEmulatorIdle(t, info, time.Minute)
		id := g.draftID(subject)
		if id == "" {
			t.Fatalf("round %d: draft %q missing", round, subject)
		}
		before := g.attachments(id)
		m = startMount(t, info, home, args...)
		m.waitQuiet(3 * time.Minute)
		after := g.attachments(id)
		acked := g.checkCopies(id, results, before, after, async, func(res copyResult) string {
			return fmt.Sprintf("round %d (kill at %v, async=%v), cp %s", round, delay.Round(time.Millisecond), async, map[bool]string{true: "exited 0", false: "failed: " + res.out}[res.ok])
		})
		for name := range after {
			if _, known := nameIn(results, name); !known {
				t.Errorf("round %d: unexpected attachment %q", round, name)
			}
		}
		t.Logf("round %d: kill after %v, %d of %d copies acknowledged, %d attached", round, delay.Round(time.Millisecond), acked, len(files), len(after))
		if t.Failed() {
			return
		}
	}
	m.term(time.Minute)
}

func nameIn(results []copyResult, name string) (int, bool) {
	for i, r := range results {
		if r.src.name == name {
			return i, true
		}
	}
	return 0, false
}
