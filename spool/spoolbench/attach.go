package spoolbench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
	"github.com/outlookfs/outlookfs/spool"
)

// AttachResult compares attaching a file through the spool with the graph
// client uploading it straight from a plain file, over the same simulated link.
type AttachResult struct {
	Bytes      int64
	Direct     time.Duration // graph.Client.Upload reading a plain file
	Spool      time.Duration // File.Commit to Spool.Wait's return (the bytes were spooled before)
	SpoolWrite time.Duration // writing the bytes into the spool, before Commit
}

// Attach runs both uploads against an emulator limited to bandwidth bytes/s
// and latency per request, and checks that both attachments hold the bytes.
func Attach(ctx context.Context, dir string, size, bandwidth int64, latency time.Duration) (AttachResult, error) {
	res := AttachResult{Bytes: size}
	block := newBlock()
	work, err := os.MkdirTemp(dir, "spoolbench-attach-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	srv, err := graphtest.Start(graphtest.Options{Bandwidth: bandwidth, Latency: latency}, graphtest.ServerOptions{})
	if err != nil {
		return res, err
	}
	defer srv.Close()
	mb := srv.Emulator.AddMailbox("bench@outlookfs.test")
	mb.SetMessageSizeLimit(graph.MaxAttachmentSize)
	log := slog.New(slog.DiscardHandler)
	client, err := graph.New(graph.Config{BaseURL: srv.GraphURL, Tokens: graph.StaticToken(mb.Token()), HTTPClient: srv.HTTPClient(), Logger: log})
	if err != nil {
		return res, err
	}
	att := graph.NewAttachment{Name: "bench.bin", ContentType: "application/octet-stream", Size: size}

	// Straight from a plain file.
	path := filepath.Join(work, "plain.bin")
	pf, err := os.Create(path)
	if err != nil {
		return res, err
	}
	if err := writeAll(pf, block, size); err != nil {
		pf.Close()
		return res, err
	}
	direct := graph.ItemRef{ID: mb.AddDraft("direct")}
	start := time.Now()
	id, err := client.Upload(ctx, direct, att, pf, graph.UploadOptions{})
	res.Direct = time.Since(start)
	pf.Close()
	if err != nil {
		return res, fmt.Errorf("direct upload: %w", err)
	}
	if err := verify(mb, direct.ID, id, block, size); err != nil {
		return res, fmt.Errorf("direct upload: %w", err)
	}

	// Through the spool.
	s, err := spool.Open(ctx, spool.Options{Dir: filepath.Join(work, "spool"), Uploader: client, Logger: log})
	if err != nil {
		return res, err
	}
	defer s.Close()
	item := graph.ItemRef{ID: mb.AddDraft("spool")}
	start = time.Now()
	f, err := s.Create(ctx, spool.CreateOptions{Item: item, Name: att.Name, ContentType: att.ContentType})
	if err != nil {
		return res, err
	}
	for off := int64(0); off < size; {
		p := piece(block, off, size)
		if _, err := f.WriteAt(p, off); err != nil {
			return res, err
		}
		off += int64(len(p))
	}
	res.SpoolWrite = time.Since(start)
	start = time.Now()
	if err := f.Commit(ctx); err != nil {
		return res, err
	}
	m, err := s.Wait(ctx, f.ID(), nil)
	res.Spool = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("spool upload: %w", err)
	}
	if err := verify(mb, item.ID, m.AttachmentID, block, size); err != nil {
		return res, fmt.Errorf("spool upload: %w", err)
	}
	return res, nil
}

// verify checks that the attachment holds exactly the benchmark's bytes.
func verify(mb *graphtest.Mailbox, itemID, id string, block []byte, size int64) error {
	for _, a := range mb.Attachments(itemID) {
		if a.ID != id {
			continue
		}
		if int64(len(a.Data)) != size {
			return fmt.Errorf("attachment has %d bytes, want %d", len(a.Data), size)
		}
		for off := int64(0); off < size; off += blockSize {
			end := min(size, off+blockSize)
			if !bytes.Equal(a.Data[off:end], block[:end-off]) {
				return fmt.Errorf("attachment differs at %d", off)
			}
		}
		return nil
	}
	return fmt.Errorf("attachment %s not found", id)
}
