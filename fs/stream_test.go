package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// TestStreamWhileWholeDownloadRuns: a stream that starts while a whole download of the same
// attachment fills the cache reads the body without feeding the cache; reaching its end must
// not wait for a cache fill it never started. (It waited on a nil channel, holding the stream's
// lock: the reader hung, and so did every later open of the file, in the kernel's page
// invalidation. Seen as a `cat` stuck in TestStreamingRead's three concurrent readers.)
func TestStreamWhileWholeDownloadRuns(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, _ := h.draft("Stream")
	_, data := writeSource(t, 3*mib+5, 81)
	attID := h.mb.AddFileAttachment(id, "s.bin", "application/octet-stream", data)

	h.fsys.fills.beginWhole(attID) // as FS.fillCache does for a read off the stream
	defer h.fsys.fills.endWhole(attID)
	s := &stream{fs: h.fsys, item: graph.ItemRef{Kind: graph.KindMessage, ID: id}, id: attID}
	got := make(chan []byte, 1)
	errs := make(chan error, 1)
	go func() {
		var out bytes.Buffer
		buf := make([]byte, 128<<10)
		for off := int64(0); ; {
			n, err := s.ReadAt(context.Background(), buf, off)
			out.Write(buf[:n])
			off += int64(n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				errs <- err
				return
			}
		}
		s.close()
		got <- out.Bytes()
	}()
	select {
	case b := <-got:
		if !bytes.Equal(b, data) {
			t.Fatalf("read %d bytes that differ from the attachment's %d", len(b), len(data))
		}
	case err := <-errs:
		t.Fatalf("read: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a stream started during a whole download never finished its last read")
	}
}
