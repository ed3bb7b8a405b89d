package spool

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestUnlinkKeepsTheWriter: a file unlinked while its writer is open is gone from the spool (Get,
// All, Wait), its bytes no longer count against MaxBytes, yet the writer goes on reading,
// writing, truncating and syncing them; its Commit fails (nothing is ever attached) and Abandon
// lets the bytes go. Remove, by contrast, stops the writer (TestRemoveAndAbandon).
func TestUnlinkKeepsTheWriter(t *testing.T) {
	s := openT(t, Options{MaxBytes: 1 << 20})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "open"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	m, err := s.Unlink(ctx, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != f.ID() || m.State != StateWriting || m.Name != "open" {
		t.Errorf("Unlink returned %+v, want the writing file", m)
	}
	if _, ok := s.Get(f.ID()); ok || len(s.All()) != 0 {
		t.Fatal("the spool still lists an unlinked file")
	}
	if _, err := s.Wait(ctx, f.ID(), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait on an unlinked file: %v, want ErrNotFound", err)
	}
	// writes past MaxBytes would fail for a counted file: this one counts no more
	big := bytes.Repeat([]byte("x"), 2<<20)
	if _, err := f.WriteAt(big, 2); err != nil {
		t.Fatalf("write to an unlinked file: %v", err)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatalf("truncate of an unlinked file: %v", err)
	}
	got := make([]byte, 10)
	if n, _ := f.ReadAt(got, 0); string(got[:n]) != "v1xx" {
		t.Errorf("read back %q, want %q", got[:n], "v1xx")
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync of an unlinked file: %v", err)
	}
	if err := f.Commit(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Commit of an unlinked file: %v, want ErrNotFound", err)
	}
	if err := f.Abandon(ctx); err != nil {
		t.Errorf("Abandon of an unlinked file: %v", err)
	}
	if _, err := f.ReadAt(got, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("read after Abandon: %v, want ErrNotFound", err)
	}
	s.mu.Lock()
	used := s.used
	s.mu.Unlock()
	if used != 0 {
		t.Errorf("the spool counts %d bytes held, want 0", used)
	}
	if _, err := s.Unlink(ctx, f.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unlink: %v, want ErrNotFound", err)
	}
}
