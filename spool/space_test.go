package spool

import (
	"context"
	"testing"
)

// TestSpace: the room reported for statfs is the limit less what the spool holds (files being
// written, waiting, or unlinked-while-open ones no more), and the disk's when there is no limit.
func TestSpace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
	}{{"limited", 8 << 20}, {"unlimited", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, Options{MaxBytes: tc.limit})
			before, err := s.Space()
			if err != nil {
				t.Fatal(err)
			}
			if before.Free <= 0 || before.Free > before.Total {
				t.Fatalf("Space of an empty spool: %+v", before)
			}
			if tc.limit > 0 && (before.Total != tc.limit || before.Free != tc.limit) {
				t.Fatalf("Space of an empty spool limited to %d: %+v", tc.limit, before)
			}
			ctx := context.Background()
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "f"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(randBytes(1, 1<<20), 0); err != nil {
				t.Fatal(err)
			}
			during, err := s.Space()
			if err != nil {
				t.Fatal(err)
			}
			if tc.limit > 0 && during.Free != tc.limit-1<<20 {
				t.Errorf("Space while 1 MiB is held: %+v, want %d free", during, tc.limit-1<<20)
			}
			if _, err := s.Unlink(ctx, f.ID()); err != nil {
				t.Fatal(err)
			}
			after, err := s.Space()
			if err != nil {
				t.Fatal(err)
			}
			if tc.limit > 0 && after.Free != tc.limit {
				t.Errorf("Space once the file is unlinked: %+v, want %d free", after, tc.limit)
			}
			_ = f.Abandon(ctx)
		})
	}
}
