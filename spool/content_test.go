package spool

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// keeper is a ContentKeeper that remembers what it was handed.
type keeper struct {
	mu   sync.Mutex
	kept map[string][]byte
}

func (k *keeper) Fill(ctx context.Context, id string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kept[id] = b
	return int64(len(b)), nil
}

func (k *keeper) get(id string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.kept[id]
	return b, ok
}

// TestAttachedContentIsKept: Options.Content gets the bytes of every attached file under its
// attachment id: a small file's (one POST) by the time Wait says attached (a close that waited
// reads back at once), a large one's (upload session) soon after; sparse files included.
func TestAttachedContentIsKept(t *testing.T) {
	k := &keeper{kept: map[string][]byte{}}
	s := openT(t, Options{Uploader: newFake(testItem), Content: k})
	for _, tc := range []struct {
		name string
		data []byte
		hole int64 // the file is made longer by a truncate: a hole of zeros at its end
	}{
		{"empty", nil, 0},
		{"small", randBytes(1, 1000), 0},
		{"sparse-small", randBytes(2, 10), 5000},
		{"large", randBytes(3, 2*ChunkSize+7), ChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tc.data, 0); err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(tc.data), make([]byte, tc.hole)...)
			if err := f.Truncate(int64(len(want))); err != nil {
				t.Fatal(err)
			}
			if err := f.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			m, err := s.Wait(ctx, f.ID(), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := k.get(m.AttachmentID)
			if !ok && int64(len(want)) >= s.opts.SmallLimit {
				// a large file's bytes are handed over in the background
				waitFor(t, 30*time.Second, "the content to be kept", func() bool { _, ok := k.get(m.AttachmentID); return ok })
				got, ok = k.get(m.AttachmentID)
			}
			if !ok {
				t.Fatalf("nothing kept for attachment %s by the time Wait returned", m.AttachmentID)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("kept %d bytes, want the %d attached", len(got), len(want))
			}
		})
	}
}
