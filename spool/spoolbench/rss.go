package spoolbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// RSSResult is the memory of a process spooling and uploading Files files of
// FileSize bytes at once.
type RSSResult struct {
	Files    int
	FileSize int64
	PeakAnon int64         // highest RssAnon seen (bytes), sampled every 2 ms
	GoAtPeak int64         // of which the Go runtime's memory (heap, stacks...; the rest is upload buffers and Badger's mmaps)
	BaseAnon int64         // RssAnon before the spool was opened
	Elapsed  time.Duration // from the first write to the last attachment
}

// PeakRSS runs a child process (this executable, see RunChildIfAsked) that
// opens a spool under dir and spools and uploads files files of size bytes at
// once to an emulator running in this process, and reports its peak
// anonymous memory.
func PeakRSS(ctx context.Context, dir string, files int, size int64) (RSSResult, error) {
	res := RSSResult{Files: files, FileSize: size}
	work, err := os.MkdirTemp(dir, "spoolbench-rss-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	srv, err := graphtest.Start(graphtest.Options{MessageSizeLimit: graph.MaxAttachmentSize}, graphtest.ServerOptions{})
	if err != nil {
		return res, err
	}
	defer srv.Close()
	mb := srv.Emulator.AddMailbox("bench@outlookfs.test")
	var items []string
	for i := range files {
		items = append(items, mb.AddDraft(fmt.Sprintf("rss %d", i)))
	}
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(),
		childEnv+"=rss",
		"SPOOLBENCH_DIR="+work,
		"SPOOLBENCH_GRAPH="+srv.GraphURL,
		"SPOOLBENCH_CA="+srv.CAFile,
		"SPOOLBENCH_TOKEN="+mb.Token(),
		"SPOOLBENCH_ITEMS="+strings.Join(items, ","),
		"SPOOLBENCH_SIZE="+strconv.FormatInt(size, 10),
	)
	if os.Getenv("GOMEMLIMIT") == "" {
		// As `outlookfs mount` runs: it sets a 48 MiB soft memory limit (cmd/outlookfs/mount.go).
		cmd.Env = append(cmd.Env, "GOMEMLIMIT=48MiB")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if os.Getenv("SPOOLBENCH_VERBOSE") != "" {
		cmd.Stderr = os.Stderr // e.g. with GODEBUG=gctrace=1
	}
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("child: %w: %s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(lastLine(out), &rep); err != nil {
		return res, fmt.Errorf("child's report %q: %w", out, err)
	}
	res.PeakAnon, res.GoAtPeak, res.BaseAnon, res.Elapsed = rep.PeakAnon, rep.GoAtPeak, rep.BaseAnon, rep.Elapsed
	for _, id := range items {
		atts := mb.Attachments(id)
		if len(atts) != 1 || int64(len(atts[0].Data)) != size {
			return res, fmt.Errorf("item %s: %d attachments after the run, want one of %d bytes", id, len(atts), size)
		}
	}
	return res, nil
}

type childReport struct {
	PeakAnon int64
	GoAtPeak int64
	BaseAnon int64
	Elapsed  time.Duration
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// rssAnon reads this process's RssAnon from /proc/self/status (bytes).
func rssAnon() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no RssAnon in /proc/self/status")
}
