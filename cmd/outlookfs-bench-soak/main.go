// Command outlookfs-bench-soak measures the peak memory of the built outlookfs's mount process
// under mixed load, with --async and with the synchronous close: ~1,000 small files and a few
// large ones copied by parallel `cp` writers into drafts, with `ls -lR` and `cat` of attachments
// running alongside, until every file is attached (checked in the emulator). The emulator runs
// in this process, so the mount process's /proc status is its own. It prints a markdown table
// (header and a row per close mode) for `make bench`; the baseline of each row is the same
// process at rest, right after mounting and listing drafts/.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outlookfs/outlookfs/cmd/internal/benchmount"
	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

func main() {
	bin := flag.String("bin", "bin/outlookfs", "the built outlookfs")
	small := flag.Int("small", 1000, "small files (1 KiB to 256 KiB)")
	large := flag.Int("large", 3, "large files")
	largeSize := flag.Int64("large-size", 150<<20, "size of each large file")
	writers := flag.Int("writers", 8, "parallel cp writers")
	flag.Parse()
	cfg := config{small: *small, large: *large, largeSize: *largeSize, writers: *writers}
	if err := run(*bin, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "outlookfs-bench-soak:", err)
		os.Exit(1)
	}
}

type config struct {
	small, large int
	largeSize    int64
	writers      int
}

// sources are the files copied: a few distinct small ones reused, and one large one.
type sources struct {
	small []string
	sizes []int64
	large string
}

func makeSources(dir string, largeSize int64) (sources, error) {
	var s sources
	for i := range 64 {
		size := int64(1<<10 + i*(255<<10)/63) // 1 KiB to 256 KiB
		b := make([]byte, size)
		rand.Read(b)
		p := filepath.Join(dir, fmt.Sprintf("small%02d", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return s, fmt.Errorf("sources: %w", err)
		}
		s.small, s.sizes = append(s.small, p), append(s.sizes, size)
	}
	b := make([]byte, largeSize)
	rand.Read(b)
	s.large = filepath.Join(dir, "large")
	if err := os.WriteFile(s.large, b, 0o644); err != nil {
		return s, fmt.Errorf("sources: %w", err)
	}
	return s, nil
}

func run(bin string, cfg config) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	work, err := os.MkdirTemp("", "outlookfs-bench-soak-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	src, err := makeSources(work, cfg.largeSize)
	if err != nil {
		return err
	}
	fmt.Println("| measurement | outlookfs | baseline | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")
	for _, async := range []bool{true, false} {
		r, err := soak(bin, filepath.Join(work, fmt.Sprintf("async-%v", async)), src, cfg, async)
		if err != nil {
			return err
		}
		if first, _ := r.lsFirst.Load().(string); first != "" {
			fmt.Fprintf(os.Stderr, "soak (async %v): %d ls -lR exited 1; the first said: %s\n", async, r.lsMinor, first)
		}
		mode := "synchronous close"
		if async {
			mode = "--async"
		}
		fmt.Printf("| soak, %s: %d small files (1-256 KiB) + %d x %s by %d parallel `cp`, `ls -lR` and `cat` alongside (%d ls of which %d exit 1, %d cat), until all attached (%.1f s) | peak RssAnon **%s** (VmHWM %s) | the same process at rest after mounting: RssAnon %s | %.2fx | < 64 MiB (issue 3's bound), bounded under mixed load |\n",
			mode, cfg.small, cfg.large, benchmount.MiB(cfg.largeSize), cfg.writers, r.ls, r.lsMinor, r.cats, r.elapsed.Seconds(),
			benchmount.MiB(r.peak), benchmount.MiB(r.hwm), benchmount.MiB(r.rest), float64(r.peak)/float64(r.rest))
	}
	return nil
}

type result struct {
	peak, hwm, rest int64
	ls, cats        int64
	lsMinor         int64        // ls runs that exited 1 (an entry went away during the listing)
	lsFirst         atomic.Value // the first such run's stderr
	elapsed         time.Duration
}

// job is one file to copy into a draft.
type job struct {
	src, draft, name string
	size             int64
}

func soak(bin, home string, src sources, cfg config, async bool) (result, error) {
	var res result
	srv, err := graphtest.Start(graphtest.Options{MessageSizeLimit: graph.MaxAttachmentSize + 1<<20}, graphtest.ServerOptions{})
	if err != nil {
		return res, fmt.Errorf("emulator: %w", err)
	}
	defer srv.Close()
	mb := srv.Emulator.AddMailbox("soak@outlookfs.test")
	// Something to read: a draft with attachments already there.
	read := mb.AddDraft("read")
	for i := range 8 {
		mb.AddFileAttachment(read, fmt.Sprintf("r%d.bin", i), "application/octet-stream", graphtest.DemoBytes(1<<20+i*4096, uint32(i+1)))
	}
	// The small files go into drafts of 100 each, each large file into a draft of its own.
	var jobs []job
	ids := map[string]string{}
	want := map[string]map[string]int64{}
	add := func(draft string) {
		if _, ok := ids[draft]; !ok {
			ids[draft] = mb.AddDraft(draft)
			want[draft] = map[string]int64{}
		}
	}
	for i := range cfg.large {
		d := fmt.Sprintf("large %d", i)
		add(d)
		jobs = append(jobs, job{src: src.large, draft: d, name: "large.bin", size: cfg.largeSize})
	}
	for i := range cfg.small {
		d := fmt.Sprintf("small %02d", i/100)
		add(d)
		k := i % len(src.small)
		jobs = append(jobs, job{src: src.small[k], draft: d, name: fmt.Sprintf("f%04d.bin", i), size: src.sizes[k]})
	}
	for _, j := range jobs {
		want[j.draft][j.name] = j.size
	}

	var extra []string
	if async {
		extra = append(extra, "--async")
	}
	m, err := benchmount.Start(bin, home, srv, mb.Token(), extra...)
	if err != nil {
		return res, err
	}
	defer m.Stop()
	if _, err := os.ReadDir(filepath.Join(m.Dir, "drafts")); err != nil {
		return res, fmt.Errorf("ls drafts/: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	rest, err := m.Memory()
	if err != nil {
		return res, err
	}
	res.rest = rest.RssAnon

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.StartSampling(5 * time.Millisecond)
	start := time.Now()
	// Readers alongside: ls -lR of the whole mount, and cat of every attachment of "read".
	var readers sync.WaitGroup
	var readErr atomic.Value
	loop := func(count *int64, f func() error) {
		defer readers.Done()
		for ctx.Err() == nil {
			if err := f(); err != nil && ctx.Err() == nil {
				readErr.CompareAndSwap(nil, err)
				return
			}
			atomic.AddInt64(count, 1)
		}
	}
	readers.Add(2)
	go loop(&res.ls, func() error {
		// ls exits 1 when an entry listed went away before its stat (a file removed or
		// renamed meanwhile): a minor problem in ls's terms, counted, not a failure.
		cmd := exec.CommandContext(ctx, "ls", "-lR", m.Dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
			atomic.AddInt64(&res.lsMinor, 1)
			if res.lsFirst.Load() == nil {
				res.lsFirst.Store(stderr.String())
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("ls -lR: %w: %s", err, stderr.String())
		}
		return nil
	})
	go loop(&res.cats, func() error {
		out, err := exec.CommandContext(ctx, "sh", "-c", `cat "$1"/* | wc -c`, "sh", filepath.Join(m.Dir, "drafts", "read")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("cat: %w: %s", err, out)
		}
		return nil
	})
	// The writers.
	next := make(chan job)
	errs := make(chan error, cfg.writers)
	var writers sync.WaitGroup
	for range cfg.writers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for j := range next {
				if _, err := benchmount.Run(ctx, "cp", j.src, filepath.Join(m.Dir, "drafts", j.draft, j.name)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var werr error
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case werr = <-errs:
			break feed
		}
	}
	close(next)
	writers.Wait()
	if werr == nil {
		select {
		case werr = <-errs:
		default:
		}
	}
	if werr == nil {
		// With --async the uploads go on after the last cp: wait until everything is attached.
		werr = waitAttached(mb, ids, want, 5*time.Minute)
	}
	res.elapsed = time.Since(start)
	cancel()
	readers.Wait()
	res.peak = m.StopSampling()
	mem, err := m.Memory()
	if err != nil {
		return res, err
	}
	res.hwm = mem.VmHWM
	if werr != nil {
		return res, fmt.Errorf("soak (async %v): %w\n%s", async, werr, m.Logs())
	}
	if err, _ := readErr.Load().(error); err != nil {
		return res, fmt.Errorf("soak (async %v): readers: %w", async, err)
	}
	if err := m.Stop(); err != nil {
		return res, err
	}
	return res, nil
}

// waitAttached waits until every draft holds exactly the wanted attachments, by name and size.
func waitAttached(mb *graphtest.Mailbox, ids map[string]string, want map[string]map[string]int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		missing := 0
		var bad error
		for d, files := range want {
			got := map[string]int64{}
			for _, a := range mb.Attachments(ids[d]) {
				if _, dup := got[a.Name]; dup {
					bad = fmt.Errorf("draft %q: %s attached twice", d, a.Name)
				}
				got[a.Name] = int64(len(a.Data))
			}
			for name, size := range files {
				if n, ok := got[name]; !ok {
					missing++
				} else if n != size {
					bad = fmt.Errorf("draft %q: %s attached with %d bytes, want %d", d, name, n, size)
				}
			}
			if len(got) > len(files) {
				bad = fmt.Errorf("draft %q: %d attachments, want %d", d, len(got), len(files))
			}
		}
		if bad != nil {
			return bad
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(fmt.Sprint(missing, " files not attached after ", limit))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
