package spoolbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// IngestResult compares spooling a file with writing it to a plain file.
type IngestResult struct {
	Bytes int64
	Spool time.Duration // Create, writes, Commit (which syncs the database)
	Plain time.Duration // create, writes, fsync, close
}

// Ingest writes size bytes in 128 KiB writes into a new spool under dir, then
// the same bytes into a plain file in dir, and times both (each ends with its
// sync). Nothing is uploaded.
func Ingest(ctx context.Context, dir string, size int64) (IngestResult, error) {
	res := IngestResult{Bytes: size}
	block := newBlock()
	work, err := os.MkdirTemp(dir, "spoolbench-ingest-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)

	s, err := spool.Open(ctx, spool.Options{Dir: filepath.Join(work, "spool"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	start := time.Now()
	f, err := s.Create(ctx, spool.CreateOptions{Item: graph.ItemRef{ID: "bench"}, Name: "ingest.bin"})
	if err != nil {
		s.Close()
		return res, err
	}
	if err := writeAll(f, block, size); err != nil {
		s.Close()
		return res, fmt.Errorf("spool: %w", err)
	}
	if err := f.Commit(ctx); err != nil {
		s.Close()
		return res, err
	}
	res.Spool = time.Since(start)
	if err := s.Close(); err != nil {
		return res, err
	}

	start = time.Now()
	pf, err := os.Create(filepath.Join(work, "plain.bin"))
	if err != nil {
		return res, err
	}
	if err := writeAll(pf, block, size); err != nil {
		pf.Close()
		return res, err
	}
	if err := pf.Sync(); err != nil {
		pf.Close()
		return res, err
	}
	if err := pf.Close(); err != nil {
		return res, err
	}
	res.Plain = time.Since(start)
	return res, nil
}
