package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSpaceIsReclaimed uploads 300 MiB through the spool; once everything is
// attached, the spool's directory must shrink to Badger's own few MiB (the
// data files are deleted).
func TestSpaceIsReclaimed(t *testing.T) {
	const files, size = 10, 30 << 20
	fk := newFake(testItem)
	fk.discardData = true
	// Hold the uploads until all 300 MiB are in the spool.
	gate := make(chan struct{})
	fk.setBefore(func(ctx context.Context, op string, _ int64) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir, Uploader: fk})
	ctx := context.Background()
	chunk := randBytes(1, 1<<20)
	var ids []string
	for i := range files {
		f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: fmt.Sprintf("f%d.bin", i)})
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < size; off += len(chunk) {
			if _, err := f.WriteAt(chunk, int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID())
	}
	peak := dirUsage(t, dir)
	if peak < files*size {
		t.Fatalf("the spool takes %d MiB with %d MiB spooled", peak>>20, files*size>>20)
	}
	close(gate)
	for _, id := range ids {
		if m, err := waitDone(t, s, id); err != nil || m.State != StateAttached {
			t.Fatalf("%s: %+v, %v", id, m, err)
		}
	}
	if n := len(fk.attachments(testItem)); n != files {
		t.Fatalf("%d attachments, want %d", n, files)
	}
	var used int64
	deadline := time.Now().Add(30 * time.Second)
	for used = dirUsage(t, dir); used >= 16<<20; used = dirUsage(t, dir) {
		if time.Now().After(deadline) {
			t.Fatalf("the spool directory takes %d MiB after everything was attached, want under 16 MiB", used>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if entries, err := os.ReadDir(filepath.Join(dir, dataDirName)); err != nil || len(entries) != 0 {
		t.Fatalf("data files left after everything was attached: %d, %v", len(entries), err)
	}
	t.Logf("spool directory: %d MiB with %d MiB spooled; %d KiB once attached", peak>>20, files*size>>20, used>>10)
}
