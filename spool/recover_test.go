package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

func openDir(t *testing.T, dir string, fk *fakeUploader) *Spool {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, Uploader: fk, Logger: testLogger(t), CloseGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecoverResumesFromRecordedOffset(t *testing.T) {
	for _, expire := range []bool{false, true} {
		name := "session alive"
		if expire {
			name = "session expired"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fk := newFake(testItem)
			hook, reached := blockAt("put", 2*ChunkSize)
			fk.setBefore(hook)
			s := openDir(t, dir, fk)
			data := randBytes(21, 3*ChunkSize+100)
			f := writeFile(t, s, testItem, "resume.bin", data)
			<-reached
			if m, _ := s.Get(f.ID()); m.Confirmed != 2*ChunkSize || m.State != StateUploading {
				t.Fatalf("before close: %+v", m)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fk.setBefore(nil)
			before := len(fk.putLog())
			if expire {
				fk.expireAll()
			}
			s = openT(t, Options{Dir: dir, Uploader: fk})
			mustAttach(t, s, fk, f.ID(), testItem, "resume.bin", data)
			puts := fk.putLog()[before:]
			if expire {
				if fk.count("create") != 2 || puts[0].Off != 0 || len(puts) != 4 {
					t.Fatalf("expired session: %d sessions, PUTs %+v; want a new session from 0", fk.count("create"), puts)
				}
			} else {
				if fk.count("create") != 1 || fk.count("status") < 1 || puts[0].Off != 2*ChunkSize || len(puts) != 2 {
					t.Fatalf("live session: %d sessions, %d status, PUTs %+v; want a resume at 8 MiB", fk.count("create"), fk.count("status"), puts)
				}
			}
		})
	}
}

func TestRecoverAfterFinalRequestLanded(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		op   string
		off  int64
	}{
		{"final PUT", 2 * ChunkSize, "put", ChunkSize},
		{"POST", 300, "post", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fk := newFake(testItem)
			hook, reached := blockAt(tc.op, tc.off)
			fk.setAfter(hook) // the request is carried out, its answer never arrives
			s := openDir(t, dir, fk)
			data := randBytes(22, tc.size)
			f := writeFile(t, s, testItem, "landed.bin", data)
			<-reached
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fk.setAfter(nil)
			uploads := fk.count("post") + fk.count("create")
			s = openT(t, Options{Dir: dir, Uploader: fk})
			mustAttach(t, s, fk, f.ID(), testItem, "landed.bin", data)
			if got := fk.count("post") + fk.count("create"); got != uploads {
				t.Fatalf("uploaded again after reopening: %d uploads, want %d", got, uploads)
			}
		})
	}
}

func TestRecoverFinishesPendingReplace(t *testing.T) {
	dir := t.TempDir()
	fk := newFake(testItem)
	fk.items[testItem] = []fakeAtt{{ID: "old", Name: "r.txt", Data: []byte("old")}}
	hook, reached := blockAt("delete", 0)
	fk.setBefore(hook)
	s := openDir(t, dir, fk)
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "r.txt", Replaces: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-reached
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fk.setBefore(nil)
	s = openT(t, Options{Dir: dir, Uploader: fk})
	waitFor(t, time.Minute, "the old attachment to be deleted", func() bool { return len(fk.attachments(testItem)) == 1 })
	if a := fk.attachments(testItem)[0]; a.ID == "old" || string(a.Data) != "new" {
		t.Fatalf("left %+v", a)
	}
	waitFor(t, time.Minute, "the record and data to be dropped", func() bool { return forgotten(t, s, f.ID()) })
}

func TestRecoverDropsOrphansAndKeepsScratch(t *testing.T) {
	dir := t.TempDir()
	fk := newFake(testItem)
	s := openDir(t, dir, fk)
	ctx := context.Background()
	sc, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".x.swp", Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.WriteAt([]byte("swap"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A data file without a record: a crash between creating the data file and its record.
	if err := os.WriteFile(s.dataPath("0rphan"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir, Uploader: fk})
	waitFor(t, time.Minute, "the orphan data file to be deleted", func() bool { return !hasData(s, "0rphan") })
	if !hasData(s, sc.ID()) {
		t.Fatal("the scratch file's data was deleted")
	}
	if m, ok := s.Get(sc.ID()); !ok || m.State != StateCommitted || !m.Scratch {
		t.Fatalf("scratch file after reopen: %+v %v", m, ok)
	}
	time.Sleep(50 * time.Millisecond)
	if fk.count("post") != 0 {
		t.Fatal("a scratch file was uploaded after reopen")
	}
	if err := s.Rename(ctx, sc.ID(), testItem, "x.txt", false); err != nil {
		t.Fatal(err)
	}
	mustAttach(t, s, fk, sc.ID(), testItem, "x.txt", []byte("swap"))
}

func TestAbandonedFilesAreNeverUploaded(t *testing.T) {
	dir := t.TempDir()
	fk := newFake(testItem)
	s := openDir(t, dir, fk)
	w, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "half.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(randBytes(1, ChunkSize+5), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir, Uploader: fk})
	var ue *UploadError
	if _, err := s.Wait(context.Background(), w.ID(), nil); !errors.As(err, &ue) {
		t.Fatalf("Wait = %v, want *UploadError", err)
	}
	// Listed with what it holds (the record is not updated on every write: the data file says).
	if m, ok := s.Get(w.ID()); !ok || !m.Abandoned || m.Size != ChunkSize+5 {
		t.Fatalf("abandoned file: %+v, %v; want Abandoned with size %d", m, ok, ChunkSize+5)
	}
	time.Sleep(50 * time.Millisecond)
	if fk.count("post")+fk.count("create") != 0 {
		t.Fatal("an abandoned file was uploaded")
	}
}

// A committed file whose data file is gone (removed by hand) is never uploaded as an empty
// or short file: it fails, saying why, and the rest of the spool carries on.
func TestCommittedFileWithoutDataFails(t *testing.T) {
	dir := t.TempDir()
	fk := newFake(testItem)
	fk.setBefore(func(ctx context.Context, op string, _ int64) error { <-ctx.Done(); return ctx.Err() })
	s := openDir(t, dir, fk)
	ctx := context.Background()
	lost := writeFile(t, s, testItem, "lost.bin", randBytes(2, 1000))
	kept := writeFile(t, s, testItem, "kept.bin", randBytes(3, 1000))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, dataDirName, lost.ID())); err != nil {
		t.Fatal(err)
	}
	fk.setBefore(nil)
	s = openT(t, Options{Dir: dir, Uploader: fk})
	var ue *UploadError
	if _, err := s.Wait(ctx, lost.ID(), nil); !errors.As(err, &ue) || !strings.Contains(ue.Reason, "copy the file again") {
		t.Fatalf("Wait on a file whose bytes are gone = %v, want an *UploadError saying what to do", err)
	}
	mustAttach(t, s, fk, kept.ID(), testItem, "kept.bin", randBytes(3, 1000))
	if n := len(fk.attachments(testItem)); n != 1 {
		t.Fatalf("%d attachments, want only kept.bin", n)
	}
}

// Close lets a request already on the wire finish and records its answer: the attachment the
// server made is known after a restart and never made twice. A request that does not finish
// within CloseGrace is cut.
func TestCloseLetsRequestInFlightFinish(t *testing.T) {
	fk := newFake(testItem)
	started, release := make(chan struct{}), make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { close(release) }) // on the wire while Close runs
	// Cut, the server creates the attachment after a restart's first look.
	fk.before = fk.holdFirst("post", 0, started, release, 300*time.Millisecond, "inflight.txt", []byte("on the wire"))
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir, Uploader: fk, Logger: testLogger(t), CloseGrace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "inflight.txt"})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("on the wire"), 0)
	if err := f.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(fk.attachments(testItem)); n != 1 {
		t.Fatalf("%d attachments after Close, want the one in flight", n)
	}
	fk.before = nil
	s2 := openDir(t, dir, fk)
	defer s2.Close()
	if m, ok := s2.Get(f.ID()); ok && m.State != StateAttached {
		t.Errorf("after a restart the file is %s, want attached (or gone)", m.State)
	}
	time.Sleep(700 * time.Millisecond) // give a late server and a (wrong) second upload their chance
	if n := len(fk.attachments(testItem)); n != 1 {
		t.Errorf("%d attachments after the restart, want 1", n)
	}
}

// A spool written when chunks were Badger values (f/<id>/c/<%08d>): Open moves a pending
// file's bytes into a data file, uploads them whole, and drops every old chunk key.
func TestRecoverMigratesChunkValues(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, nil)
	data := randBytes(7, ChunkSize+100)
	now := time.Now()
	pending := record{Meta: Meta{ID: "0ld", Item: testItem, Name: "old.bin", State: StateCommitted,
		Size: int64(len(data)), Created: now, Mtime: now}, CommittedAt: now}
	attached := record{Meta: Meta{ID: "d0ne", Item: testItem, Name: "done.bin", State: StateAttached,
		Size: 3, Created: now, Mtime: now, AttachmentID: "att-done"}}
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, r := range []record{pending, attached} {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := txn.Set(metaKey(r.ID), v); err != nil {
				return err
			}
		}
		for i, c := range [][]byte{data[:ChunkSize], data[ChunkSize:]} {
			if err := txn.Set(fmt.Appendf(nil, "f/0ld/c/%08d", i), c); err != nil {
				return err
			}
		}
		return txn.Set([]byte("f/d0ne/c/00000000"), []byte("abc"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fk := newFake(testItem)
	s = openT(t, Options{Dir: dir, Uploader: fk})
	mustAttach(t, s, fk, "0ld", testItem, "old.bin", data)
	for _, id := range []string{"0ld", "d0ne"} {
		if keys := storedKeys(t, s, []byte("f/"+id+"/c/")); len(keys) != 0 {
			t.Errorf("old chunk keys of %s left: %v", id, keys)
		}
	}
	waitFor(t, time.Minute, "the migrated file to be forgotten", func() bool { return forgotten(t, s, "0ld") })
}

// A committed or uploading file whose data file is shorter than its record (cut short by
// hand or by a damaged file system) is never uploaded with zeros in place of the missing
// bytes: it fails, saying why, like one whose data file is gone.
func TestCommittedFileWithShortDataFails(t *testing.T) {
	for _, state := range []State{StateCommitted, StateUploading} {
		t.Run(string(state), func(t *testing.T) {
			dir := t.TempDir()
			fk := newFake(testItem)
			hook, reached := blockAt("put", ChunkSize)
			fk.setBefore(hook)
			s := openDir(t, dir, fk)
			ctx := context.Background()
			size := ChunkSize + 1000
			if state == StateCommitted {
				fk.setBefore(func(ctx context.Context, op string, _ int64) error { <-ctx.Done(); return ctx.Err() })
				size = 1000
			}
			short := writeFile(t, s, testItem, "short.bin", randBytes(2, size))
			if state == StateUploading {
				<-reached
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(filepath.Join(dir, dataDirName, short.ID()), int64(size-10)); err != nil {
				t.Fatal(err)
			}
			fk.setBefore(nil)
			s = openT(t, Options{Dir: dir, Uploader: fk})
			var ue *UploadError
			if _, err := s.Wait(ctx, short.ID(), nil); !errors.As(err, &ue) || !strings.Contains(ue.Reason, "copy the file again") {
				t.Fatalf("Wait on a file whose bytes are cut short = %v, want an *UploadError saying what to do", err)
			}
			if atts := fk.attachments(testItem); len(atts) != 0 {
				t.Fatalf("%d attachments, want none (a file with zeros for its missing bytes)", len(atts))
			}
		})
	}
}

// A file whose synchronous close was still waiting for its upload when the process died was
// never acknowledged to its writer (cp did not succeed): the next Open does not upload it, and
// deletes what its last request may have attached. Issue 11.
func TestRecoverDropsUnacknowledged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		op     string
		off    int64
		landed bool // the request was carried out, its answer lost
	}{
		{"mid-session PUT", 3*ChunkSize + 100, "put", ChunkSize, false},
		{"final PUT landed", 2 * ChunkSize, "put", ChunkSize, true},
		{"POST landed", 300, "post", 0, true},
		{"POST on the wire", 300, "post", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fk := newFake(testItem)
			hook, reached := blockAt(tc.op, tc.off)
			if tc.landed {
				fk.setAfter(hook)
			} else {
				fk.setBefore(hook)
			}
			s := openDir(t, dir, fk)
			ctx := context.Background()
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "unacked.bin"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(randBytes(23, tc.size), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.CommitAwaited(ctx); err != nil {
				t.Fatal(err)
			}
			<-reached
			if err := s.Close(); err != nil { // the process dies with the close still waiting
				t.Fatal(err)
			}
			fk.setBefore(nil)
			fk.setAfter(nil)
			uploads := fk.count("post") + fk.count("create")
			s = openT(t, Options{Dir: dir, Uploader: fk, LandingWindow: time.Second})
			if m, ok := s.Get(f.ID()); ok && m.State != StateAttached && !m.Abandoned {
				t.Fatalf("after reopening: %+v, want the file gone", m)
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(fk.attachments(testItem)) > 0 { // what landed is deleted by the orphan hunt
				if time.Now().After(deadline) {
					t.Fatalf("still attached after reopening: %+v", fk.attachments(testItem))
				}
				time.Sleep(20 * time.Millisecond) // polling a condition, not a wait before an assertion
			}
			if got := fk.count("post") + fk.count("create"); got != uploads {
				t.Fatalf("uploaded after reopening: %d uploads, want %d", got, uploads)
			}
			for _, m := range s.All() {
				if m.ID == f.ID() && !m.Abandoned && m.State != StateFailed {
					t.Fatalf("the spool still holds it: %+v", m)
				}
			}
		})
	}
}
