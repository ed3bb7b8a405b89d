package spool_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/spool/spoolbench"
)

// Run with -benchtime=1x: each iteration moves 150 MiB (600 MiB for PeakRSS).
// cmd/outlookfs-bench-spool prints the same measurements as a table.

// BenchmarkIngest spools a 150 MiB file (128 KiB writes, Commit with its sync)
// and writes the same bytes to a plain file on the same disk (then fsync).
func BenchmarkIngest(b *testing.B) {
	const size = 150 << 20
	var spoolTime, plainTime time.Duration
	for range b.N {
		res, err := spoolbench.Ingest(context.Background(), b.TempDir(), size)
		if err != nil {
			b.Fatal(err)
		}
		spoolTime += res.Spool
		plainTime += res.Plain
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(spoolTime), "spool-MB/s")
	b.ReportMetric(mbps(plainTime), "plain-MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPeakRSS: peak anonymous memory of a process spooling and uploading
// four files at once, for two file sizes (the goal: under 64 MiB, not growing
// with the file size).
func BenchmarkPeakRSS(b *testing.B) {
	for _, size := range []int64{40 << 20, 150 << 20} {
		b.Run(fmt.Sprintf("4x%dMiB", size>>20), func(b *testing.B) {
			var peak int64
			for range b.N {
				res, err := spoolbench.PeakRSS(context.Background(), b.TempDir(), 4, size)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, res.PeakAnon)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-anon-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkAttach: 150 MiB attached through the spool (Commit to Wait) vs. the
// graph client uploading the same bytes from a plain file, over the
// emulator's simulated 20 MB/s, 30 ms link (the goal: within 1.10x).
func BenchmarkAttach(b *testing.B) {
	var spoolTime, direct time.Duration
	for range b.N {
		res, err := spoolbench.Attach(context.Background(), b.TempDir(), 150<<20, 20_000_000, 30*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		spoolTime += res.Spool
		direct += res.Direct
	}
	b.ReportMetric(spoolTime.Seconds()/float64(b.N), "spool-s")
	b.ReportMetric(direct.Seconds()/float64(b.N), "direct-s")
	b.ReportMetric(spoolTime.Seconds()/direct.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}
