// Command outlookfs-bench-sdk compares, in one run and against one emulator over its simulated
// link (default 20 MB/s, 30 ms per request), the whole `cp` of a 150 MiB file into a draft of
// the built outlookfs mounted with the synchronous close (cp returns when the file is attached)
// with Microsoft's own Go upload task, msgraph-sdk-go-core's LargeFileUploadTask, uploading the
// same bytes from the same file (session creation included, 4 MiB slices as outlookfs sends).
// It prints a markdown table (header and one row) for `make bench`.
//
// It is its own module so that the product's go.mod never lists the SDK or kiota.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/outlookfs/outlookfs/cmd/internal/benchmount"
	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

func main() {
	bin := flag.String("bin", "bin/outlookfs", "the built outlookfs")
	size := flag.Int64("size", 150<<20, "bytes copied and uploaded")
	bandwidth := flag.Int64("bandwidth", 20_000_000, "simulated link, bytes per second")
	latency := flag.Duration("latency", 30*time.Millisecond, "simulated latency, once per request")
	runs := flag.Int("runs", 3, "runs of each (alternating; the median is shown)")
	flag.Parse()
	if err := run(*bin, *size, *bandwidth, *latency, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "outlookfs-bench-sdk:", err)
		os.Exit(1)
	}
}

func run(bin string, size, bandwidth int64, latency time.Duration, runs int) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	work, err := os.MkdirTemp("", "outlookfs-bench-sdk-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src.bin")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		return fmt.Errorf("source file: %w", err)
	}
	want := sha256.Sum256(data)
	data = nil

	srv, err := graphtest.Start(graphtest.Options{MessageSizeLimit: graph.MaxAttachmentSize + 1<<20}, graphtest.ServerOptions{})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	defer srv.Close()
	mb := srv.Emulator.AddMailbox("bench@outlookfs.test")
	// One fresh draft per upload, all made before the mount lists drafts/.
	ours, theirs := make([]string, runs), make([]string, runs)
	for i := range runs {
		ours[i] = mb.AddDraft(fmt.Sprintf("cp %d", i))
		theirs[i] = mb.AddDraft(fmt.Sprintf("sdk %d", i))
	}
	m, err := benchmount.Start(bin, filepath.Join(work, "home"), srv, mb.Token())
	if err != nil {
		return err
	}
	defer m.Stop()
	// The mount's first listing of drafts/ is not part of the cp.
	if _, err := os.ReadDir(filepath.Join(m.Dir, "drafts")); err != nil {
		return fmt.Errorf("ls drafts/: %w", err)
	}

	ctx := context.Background()
	srv.Emulator.SetLink(bandwidth, latency)
	var cpT, sdkT []time.Duration
	var cpReq, sdkReq []int
	for i := range runs {
		srv.Emulator.Reset()
		d, err := benchmount.Run(ctx, "cp", src, filepath.Join(m.Dir, "drafts", fmt.Sprintf("cp %d", i), "big.bin"))
		if err != nil {
			return fmt.Errorf("%w\n%s", err, m.Logs())
		}
		cpT, cpReq = append(cpT, d), append(cpReq, len(srv.Emulator.Requests()))
		if err := verify(mb, ours[i], want, size); err != nil {
			return fmt.Errorf("outlookfs: %w", err)
		}

		srv.Emulator.Reset()
		start := time.Now()
		if _, err := sdkUpload(srv, mb.Token(), theirs[i], src, 4<<20, nil); err != nil {
			return err
		}
		sdkT, sdkReq = append(sdkT, time.Since(start)), append(sdkReq, len(srv.Emulator.Requests()))
		if err := verify(mb, theirs[i], want, size); err != nil {
			return fmt.Errorf("LargeFileUploadTask: %w", err)
		}
	}
	srv.Emulator.SetLink(0, 0)
	if err := m.Stop(); err != nil {
		return err
	}

	mc, ms := median(cpT), median(sdkT)
	bound := func(reqs int) time.Duration {
		return time.Duration(float64(size)/float64(bandwidth)*float64(time.Second)) + time.Duration(reqs)*latency
	}
	fmt.Println("| measurement | outlookfs | baseline | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| whole `cp` of %s into a draft, synchronous close (cp returns when attached), over %.0f MB/s, %v (median of %d, alternating) | %.2f s, %d requests (link bound %.2f s) | Microsoft's LargeFileUploadTask (msgraph-sdk-go-core %s, 4 MiB slices, session included), same bytes, same emulator: %.2f s, %d requests (link bound %.2f s) | %.3fx of its time | within 1.10x |\n",
		benchmount.MiB(size), float64(bandwidth)/1e6, latency, runs,
		mc.Seconds(), medianInt(cpReq), bound(medianInt(cpReq)).Seconds(),
		sdkVersion(), ms.Seconds(), medianInt(sdkReq), bound(medianInt(sdkReq)).Seconds(),
		mc.Seconds()/ms.Seconds())
	return nil
}

// verify checks that the draft holds exactly one attachment, the source's bytes.
func verify(mb *graphtest.Mailbox, draftID string, want [32]byte, size int64) error {
	atts := mb.Attachments(draftID)
	if len(atts) != 1 || int64(len(atts[0].Data)) != size {
		return fmt.Errorf("draft %s: %d attachments, want one of %d bytes", draftID, len(atts), size)
	}
	if sha256.Sum256(atts[0].Data) != want {
		return fmt.Errorf("draft %s: the attachment differs from the source", draftID)
	}
	return nil
}

// sdkVersion is the msgraph-sdk-go-core version this program was built with.
func sdkVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/microsoftgraph/msgraph-sdk-go-core" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
