//go:build e2e

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2ESoak: 1,000 small files and three of 20 MiB copied by 8 parallel writers into an
// --async mount, with `ls -lR` and `cat` running alongside. Everything ends attached once and
// identical; the mount's open fds come back to their baseline; threads stay bounded (Go parks
// its threads rather than ending them, so "back to baseline" is asked of fds only, and threads
// must not exceed the baseline by more than the writers and readers could have caused); peak
// memory is printed.
func TestE2ESoak(t *testing.T) {
	seed := e2eSeed(t)
	r := rand.New(rand.NewPCG(seed, 3))
	info := startEmulatorProcess(t, "--message-size-limit", "300000000")
	g := newGraphAPI(t, info)
	m := startMount(t, info, t.TempDir(), "--async", "--landing-window", "5s")
	src := t.TempDir()
	const writers, small = 8, 1000
	subjects := []string{"Soak 0", "Soak 1", "Soak 2", "Soak 3"}
	for _, s := range subjects {
		if err := os.Mkdir(filepath.Join(m.dir, "drafts", s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var files [writers][]srcFile
	var subjectOf = map[string]string{}
	for i := 0; i < small+3; i++ {
		size := r.Int64N(64 << 10)
		if i >= small {
			size = 20 << 20
		}
		f := makeSource(t, src, fmt.Sprintf("s%04d.bin", i), size, r.Uint64())
		files[i%writers] = append(files[i%writers], f)
		subjectOf[f.name] = subjects[i%len(subjects)]
	}
	exec.Command("ls", "-lR", m.dir+"/drafts").Run()
	base := readProcStat(t, m.cmd.Process.Pid)
	baseTargets := fdTargets(m.cmd.Process.Pid)
	t.Logf("baseline: %d fds, %d threads", base.fds, base.threads)

	var stop atomic.Bool
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		for !stop.Load() {
			exec.Command("ls", "-lR", m.dir+"/drafts").Run()
		}
	}()
	go func() {
		defer readers.Done()
		for !stop.Load() {
			exec.Command("sh", "-c", "cat \"$1\"/drafts/Soak*/s00*.bin > /dev/null 2>&1", "sh", m.dir).Run()
		}
	}()
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One cp per 25 files of a draft (cp copies many sources into a directory).
			bySubject := map[string][]string{}
			for _, f := range files[w] {
				bySubject[subjectOf[f.name]] = append(bySubject[subjectOf[f.name]], f.path)
			}
			for s, paths := range bySubject {
				for len(paths) > 0 {
					n := min(25, len(paths))
					args := append(append([]string{}, paths[:n]...), filepath.Join(m.dir, "drafts", s))
					if out, err := exec.Command("cp", args...).CombinedOutput(); err != nil {
						t.Errorf("cp of %d files: %v %s", n, err, out)
					}
					paths = paths[n:]
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d files copied in %v", small+3, time.Since(start).Round(time.Millisecond))
	m.waitQuiet(5 * time.Minute)
	stop.Store(true)
	readers.Wait()
	t.Logf("attached by %v", time.Since(start).Round(time.Millisecond))

	for _, s := range subjects {
		id := g.draftID(s)
		atts := g.attachments(id)
		for w := range files {
			for _, f := range files[w] {
				if subjectOf[f.name] == s {
					g.checkAttached(id, atts, f, "soak")
				}
			}
		}
	}

	// A leak grows with the 1,003 files or the thousands of requests; what legitimately
	// stays is a few of Badger's files (its log rotates as the database grows), idle HTTP
	// connections kept alive (at most --max-in-flight per host) and go-fuse's splice pipes.
	// So: no fd on a written file's spool data or on the mount, and at most 16 more fds.
	end := readProcStat(t, m.cmd.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for end.fds > base.fds+16 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		end = readProcStat(t, m.cmd.Process.Pid)
	}
	t.Logf("end: %d fds (baseline %d), %d threads (baseline %d), VmHWM %d kB, RssAnon %d kB", end.fds, base.fds, end.threads, base.threads, end.vmHWMkB, end.rssAnon)
	targets := fdTargets(m.cmd.Process.Pid)
	if end.fds > base.fds+16 {
		t.Errorf("the mount holds %d fds after the soak, %d before:\nnow %v\nbefore %v", end.fds, base.fds, targets, baseTargets)
	}
	for _, tg := range targets {
		if strings.Contains(tg, "/spool/data/") || strings.Contains(tg, m.dir) {
			t.Errorf("the mount still holds %s after the soak", tg)
		}
	}
	if end.threads > base.threads+writers+16 {
		t.Errorf("the mount has %d threads after the soak, %d before", end.threads, base.threads)
	}
	m.term(time.Minute)
}

// TestE2ESigterm: SIGTERM while writers copy mixed sizes; the mount exits 0 and unmounts; after
// a remount with the same spool every acknowledged file is attached once, identical, and a
// failed synchronous copy is absent unless Graph had it when the process stopped.
func TestE2ESigterm(t *testing.T) {
	seed := e2eSeed(t)
	for i, async := range []bool{true, false} {
		t.Run(map[bool]string{false: "sync", true: "async"}[async], func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed+uint64(i), 5))
			info := startEmulatorProcess(t, "--message-size-limit", "300000000")
			g := newGraphAPI(t, info)
			home, src := t.TempDir(), t.TempDir()
			args := []string{"--landing-window", "5s"}
			if async {
				args = append(args, "--async")
			}
			m := startMount(t, info, home, args...)
			if err := os.Mkdir(filepath.Join(m.dir, "drafts", "Term"), 0o755); err != nil {
				t.Fatal(err)
			}
			var results []copyResult
			for j := 0; j < 40; j++ {
				results = append(results, copyResult{src: makeSource(t, src, fmt.Sprintf("t%02d.bin", j), killSizes[r.IntN(len(killSizes))](r), r.Uint64())})
			}
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := w; j < len(results); j += 4 {
						out, err := runCp(results[j].src.path, filepath.Join(m.dir, "drafts", "Term", results[j].src.name))
						results[j].ok, results[j].out = err == nil, out
					}
				}()
			}
			delay := 500*time.Millisecond + time.Duration(r.Int64N(int64(1500*time.Millisecond)))
			time.Sleep(delay) // the moment of the signal, not a wait before an assertion
			m.term(2 * time.Minute)
			wg.Wait()
			waitEmulatorIdle(t, info, time.Minute)
			id := g.draftID("Term")
			before := g.attachments(id)
			m = startMount(t, info, home, args...)
			m.waitQuiet(3 * time.Minute)
			after := g.attachments(id)
			acked := g.checkCopies(id, results, before, after, async, func(res copyResult) string {
				return fmt.Sprintf("SIGTERM after %v, async=%v, cp ok=%v %s", delay.Round(time.Millisecond), async, res.ok, res.out)
			})
			t.Logf("SIGTERM after %v: %d of %d copies acknowledged, %d attached", delay.Round(time.Millisecond), acked, len(results), len(after))
			m.term(time.Minute)
		})
	}
}

// TestE2EAsyncListing: a file copied with --async stays listed while its upload runs, when it
// ends, and across the listing's refresh after it (15 s): ls never loses it.
func TestE2EAsyncListing(t *testing.T) {
	info := startEmulatorProcess(t, "--bandwidth", "4000000")
	g := newGraphAPI(t, info)
	m := startMount(t, info, t.TempDir(), "--async")
	draft := filepath.Join(m.dir, "drafts", "Listed")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	f := makeSource(t, t.TempDir(), "f.bin", 8<<20, 9)
	if out, err := runCp(f.path, filepath.Join(draft, f.name)); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	id := g.draftID("Listed")
	var attachedAt time.Time
	seen := 0
	for attachedAt.IsZero() || time.Since(attachedAt) < 20*time.Second {
		out, err := exec.Command("ls", draft).Output()
		if err != nil {
			t.Fatalf("ls: %v", err)
		}
		seen++
		if !containsLine(string(out), f.name) {
			when := "while uploading, or as the upload ended"
			if !attachedAt.IsZero() {
				when = time.Since(attachedAt).Round(time.Millisecond).String() + " after Graph had it"
			}
			t.Fatalf("ls #%d (%s) does not list %s: %q", seen, when, f.name, out)
		}
		if attachedAt.IsZero() && len(g.attachments(id)[f.name]) == 1 {
			attachedAt = time.Now()
		}
		time.Sleep(100 * time.Millisecond) // the pace of the observer; the loop's end is decided above
	}
	t.Logf("%d listings, all with %s", seen, f.name)
	g.checkAttached(id, g.attachments(id), f, "async listing")
	m.term(time.Minute)
}

func containsLine(s, line string) bool {
	for _, l := range splitLines(s) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// fdTargets lists what a process's fds point at.
func fdTargets(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+l)
	}
	return out
}
