// Command outlookfs-bench-spool measures the spool side by side with its
// baselines in one run and prints a markdown table (header and rows), for
// `make bench`:
//
//   - ingest of a 150 MiB file into the spool vs. the same writes to a plain
//     file on the same disk (both end with their sync);
//   - peak anonymous memory (RssAnon) of a process spooling and uploading four
//     files at once, with 40 MiB and with 150 MiB files (goal: under 64 MiB,
//     no growth with the file size), measured in a child process;
//   - a 150 MiB attach through the spool (Commit to attached) vs. the graph
//     client uploading the same bytes straight from a plain file, over the
//     emulator's simulated 20 MB/s, 30 ms link (goal: within 1.10x).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/outlookfs/outlookfs/spool/spoolbench"
)

func main() {
	spoolbench.RunChildIfAsked() // the memory measurement's child process
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure (spool and plain files go under it)")
	size := flag.Int64("size", 150<<20, "file size of the ingest and attach measurements, and the large memory one")
	small := flag.Int64("small", 40<<20, "file size of the small memory measurement")
	files := flag.Int("files", 4, "files spooled and uploaded at once in the memory measurement")
	bandwidth := flag.Int64("bandwidth", 20_000_000, "simulated link of the attach measurement, bytes per second")
	latency := flag.Duration("latency", 30*time.Millisecond, "simulated latency, once per request")
	runs := flag.Int("runs", 3, "runs of the ingest and memory measurements (median shown)")
	flag.Parse()
	if err := run(*dir, *size, *small, *files, *bandwidth, *latency, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "outlookfs-bench-spool:", err)
		os.Exit(1)
	}
}

func run(dir string, size, small int64, files int, bandwidth int64, latency time.Duration, runs int) error {
	ctx := context.Background()
	fmt.Println("| measurement | spool | baseline | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")

	var spoolT, plainT []time.Duration
	for range runs {
		r, err := spoolbench.Ingest(ctx, dir, size)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		spoolT, plainT = append(spoolT, r.Spool), append(plainT, r.Plain)
	}
	sMBps, pMBps := mbps(size, median(spoolT)), mbps(size, median(plainT))
	fmt.Printf("| ingest of a %s file (128 KiB writes, then sync) | %.0f MB/s | plain file on the same disk: %.0f MB/s | %.2fx | - |\n",
		mib(size), sMBps, pMBps, sMBps/pMBps)

	peaks := map[int64]int64{}
	for _, sz := range []int64{small, size} {
		var peak, goMem []int64
		for range runs {
			r, err := spoolbench.PeakRSS(ctx, dir, files, sz)
			if err != nil {
				return fmt.Errorf("memory, %s files: %w", mib(sz), err)
			}
			peak, goMem = append(peak, r.PeakAnon), append(goMem, r.GoAtPeak)
		}
		peaks[sz] = medianInt(peak)
		baseline, ratio := "-", "-"
		if sz == size && small != size {
			baseline = fmt.Sprintf("%d x %s files: %s", files, mib(small), mib(peaks[small]))
			ratio = fmt.Sprintf("%.2fx", float64(peaks[size])/float64(peaks[small]))
		}
		fmt.Printf("| peak RssAnon, %d x %s spooled and uploaded at once (GOMEMLIMIT 48MiB, as the mount sets) | %s (max %s of %d runs; Go runtime %s, the rest upload buffers and Badger) | %s | %s | < 64 MiB, no growth with file size |\n",
			files, mib(sz), mib(peaks[sz]), mib(slices.Max(peak)), runs, mib(medianInt(goMem)), baseline, ratio)
	}

	r, err := spoolbench.Attach(ctx, dir, size, bandwidth, latency)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	fmt.Printf("| attach %s over %.0f MB/s, %v (Commit to attached; spooling it took %.2f s before) | %.2f s | graph client from a plain file: %.2f s | %.3fx | within 1.10x |\n",
		mib(size), float64(bandwidth)/1e6, latency, r.SpoolWrite.Seconds(), r.Spool.Seconds(), r.Direct.Seconds(), r.Spool.Seconds()/r.Direct.Seconds())
	return nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
