package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

func TestWriteReadBack(t *testing.T) {
	s := openT(t, Options{})
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"chunk minus one", ChunkSize - 1},
		{"one chunk", ChunkSize},
		{"chunk plus one", ChunkSize + 1},
		{"two and a half chunks", 2*ChunkSize + ChunkSize/2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randBytes(uint64(tc.size), tc.size)
			f := writeFile(t, s, testItem, tc.name, data)
			if got := f.Size(); got != int64(tc.size) {
				t.Fatalf("Size = %d, want %d", got, tc.size)
			}
			if got := readAll(t, s, f.ID(), int64(tc.size)); !bytes.Equal(got, data) {
				t.Fatal("bytes read back differ")
			}
			m, ok := s.Get(f.ID())
			if !ok || m.State != StateCommitted || m.Size != int64(tc.size) || m.Name != tc.name {
				t.Fatalf("Get = %+v, %v", m, ok)
			}
		})
	}
}

func TestSparseAndOverlappingWrites(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "sparse"})
	if err != nil {
		t.Fatal(err)
	}
	model := make([]byte, 9<<20+10)
	write := func(p []byte, off int64) {
		t.Helper()
		if n, err := f.WriteAt(p, off); err != nil || n != len(p) {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
		}
		copy(model[off:], p)
	}
	write([]byte("tail"), 9<<20+6)                    // only the third chunk, far away
	write(randBytes(1, 100), 10)                      // the first chunk
	write(randBytes(2, ChunkSize), ChunkSize/2)       // straddles chunks 0 and 1
	write(randBytes(3, 1000), ChunkSize/2+500)        // overlaps the previous write
	write([]byte("x"), ChunkSize-1)                   // last byte of chunk 0
	write(randBytes(4, 3*ChunkSize/2), ChunkSize*2-7) // straddles 1 and 2, inside the tail chunk
	got := make([]byte, len(model))
	if n, err := f.ReadAt(got, 0); err != nil || n != len(model) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !bytes.Equal(got, model) {
		t.Fatal("writer's view differs from the model")
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, f.ID(), int64(len(model))); !bytes.Equal(got, model) {
		t.Fatal("committed bytes differ from the model")
	}
}

func TestReadPastEnd(t *testing.T) {
	s := openT(t, Options{})
	f := writeFile(t, s, testItem, "short", []byte("hello"))
	p := make([]byte, 10)
	n, err := s.ReadAt(f.ID(), p, 2)
	if n != 3 || !errors.Is(err, io.EOF) || string(p[:n]) != "llo" {
		t.Fatalf("ReadAt past end = %d %q, %v", n, p[:n], err)
	}
	if n, err := s.ReadAt(f.ID(), p, 5); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt at end = %d, %v", n, err)
	}
}

func TestTruncate(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		initial  int
		sizes    []int64
		rewrites bool // write a few bytes after each truncate
	}{
		{"shrink within a chunk", 1000, []int64{10}, false},
		{"shrink across chunks", 3 * ChunkSize, []int64{ChunkSize + 5}, false},
		{"shrink to a chunk boundary", 3 * ChunkSize, []int64{ChunkSize}, false},
		{"shrink to zero then grow", 2 * ChunkSize, []int64{0, 2*ChunkSize + 3}, false},
		{"shrink then grow reads zeros", 2 * ChunkSize, []int64{100, 3 * ChunkSize}, false},
		{"grow then write", 10, []int64{ChunkSize * 2, 5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			model := randBytes(7, tc.initial)
			if _, err := f.WriteAt(model, 0); err != nil {
				t.Fatal(err)
			}
			for _, size := range tc.sizes {
				if err := f.Truncate(size); err != nil {
					t.Fatalf("Truncate(%d): %v", size, err)
				}
				if int64(len(model)) > size {
					model = model[:size]
				} else {
					model = append(model, make([]byte, size-int64(len(model)))...)
				}
				if tc.rewrites {
					p := []byte("abc")
					if _, err := f.WriteAt(p, size); err != nil {
						t.Fatal(err)
					}
					model = append(model, p...)
				}
				if f.Size() != int64(len(model)) {
					t.Fatalf("Size = %d, want %d", f.Size(), len(model))
				}
			}
			if err := f.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s, f.ID(), int64(len(model))); !bytes.Equal(got, model) {
				t.Fatal("bytes differ from the model")
			}
		})
	}
}

func TestLimits(t *testing.T) {
	s := openT(t, Options{MaxFileSize: 5 << 20, MaxBytes: 8 << 20})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 10), 5<<20-5); !errors.Is(err, ErrFileTooBig) || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write past MaxFileSize: %v, want ErrFileTooBig (EFBIG)", err)
	}
	if err := f.Truncate(5<<20 + 1); !errors.Is(err, ErrFileTooBig) {
		t.Fatalf("truncate past MaxFileSize: %v, want ErrFileTooBig", err)
	}
	if _, err := f.WriteAt(make([]byte, 5<<20), 0); err != nil {
		t.Fatalf("write up to MaxFileSize: %v", err)
	}
	g, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(make([]byte, 3<<20), 0); err != nil {
		t.Fatalf("write within MaxBytes: %v", err)
	}
	if _, err := g.WriteAt(make([]byte, 1), 3<<20); !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past MaxBytes: %v, want ErrNoSpace (ENOSPC)", err)
	}
	// Removing a file gives its space back.
	if err := f.Abandon(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(make([]byte, 1), 3<<20); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
}

func TestCommittedFileIsReadOnly(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	f := writeFile(t, s, testItem, "a", []byte("data"))
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrCommitted) {
		t.Fatalf("WriteAt after Commit: %v, want ErrCommitted", err)
	}
	if err := f.Truncate(0); !errors.Is(err, ErrCommitted) {
		t.Fatalf("Truncate after Commit: %v, want ErrCommitted", err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync after Commit: %v", err)
	}
	p := make([]byte, 4)
	if _, err := f.ReadAt(p, 0); err != nil || string(p) != "data" {
		t.Fatalf("ReadAt after Commit = %q, %v", p, err)
	}
}

func TestReopenKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	committed := randBytes(11, 2*ChunkSize+17)
	c := writeFile(t, s, testItem, "committed.bin", committed)
	w, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "open.bin"})
	if err != nil {
		t.Fatal(err)
	}
	writing := randBytes(12, ChunkSize+3)
	if _, err := w.WriteAt(writing, 0); err != nil {
		t.Fatal(err)
	}
	mode := uint32(0o600)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := s.SetAttr(c.ID(), &mode, &mtime); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("x"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteAt after Close: %v, want ErrClosed", err)
	}

	s = openT(t, Options{Dir: dir, AbandonedTTL: time.Hour})
	m, ok := s.Get(c.ID())
	if !ok || m.State != StateCommitted || m.Mode != mode || !m.Mtime.Equal(mtime) || m.Size != int64(len(committed)) {
		t.Fatalf("committed file after reopen: %+v %v", m, ok)
	}
	if got := readAll(t, s, c.ID(), m.Size); !bytes.Equal(got, committed) {
		t.Fatal("committed bytes differ after reopen")
	}
	a, ok := s.Get(w.ID())
	if !ok || a.State != StateWriting || !a.Abandoned || a.Size != int64(len(writing)) {
		t.Fatalf("writing file after reopen: %+v %v (want abandoned, %d bytes)", a, ok, len(writing))
	}
	// Close flushed the writer's buffer: an abandoned file's bytes are still readable.
	if got := readAll(t, s, w.ID(), a.Size); !bytes.Equal(got, writing) {
		t.Fatal("abandoned file's bytes differ")
	}
	var ue *UploadError
	if _, err := s.Wait(ctx, w.ID(), nil); !errors.As(err, &ue) {
		t.Fatalf("Wait on an abandoned file: %v, want *UploadError", err)
	}
	if got := s.List(testItem); len(got) != 2 {
		t.Fatalf("List = %d files, want 2", len(got))
	}
}

func TestAbandonedFilesExpire(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "never closed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("partial"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Long enough that the check below runs before the file may expire (the janitor may
	// expire it AbandonedTTL after the reopen: 50 ms was less than a loaded machine can take
	// between Open and Get), short enough not to slow the test much.
	s = openT(t, Options{Dir: dir, AbandonedTTL: 3 * time.Second})
	if m, ok := s.Get(w.ID()); !ok || !m.Abandoned {
		t.Fatalf("not abandoned after reopen: %+v", m)
	}
	waitFor(t, time.Minute, "the abandoned file to expire", func() bool {
		_, ok := s.Get(w.ID())
		return !ok
	})
}

func TestSyncPersistsSize(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "synced"})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(5, 1234)
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Read the record straight from the database: Sync stored the size.
	s.mu.Lock()
	e := s.files[f.ID()]
	s.mu.Unlock()
	if e.rec.Size != int64(len(data)) {
		t.Fatalf("record size after Sync = %d, want %d", e.rec.Size, len(data))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveAndAbandon(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(randBytes(1, ChunkSize+1), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, f.ID()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(f.ID()); ok {
		t.Fatal("Get finds a removed file")
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("WriteAt on a removed file: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadAt(f.ID(), make([]byte, 1), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadAt on a removed file: %v, want ErrNotFound", err)
	}
	if err := s.Remove(ctx, f.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
	if _, err := s.Wait(ctx, f.ID(), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait on a removed file: %v, want ErrNotFound", err)
	}
	g := writeFile(t, s, testItem, "abandoned", []byte("bytes"))
	if err := g.Abandon(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(g.ID()); ok {
		t.Fatal("Get finds an abandoned file")
	}
	if len(s.All()) != 0 {
		t.Fatalf("All = %+v, want nothing", s.All())
	}
}

func TestRenameAndSetAttr(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	other := graph.ItemRef{Kind: graph.KindEvent, ID: "event-9"}
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".goutputstream-ABC", Scratch: true, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, f.ID(), other, "report.txt", false); err != nil {
		t.Fatal(err)
	}
	mode := uint32(0o640)
	if err := s.SetAttr(f.ID(), &mode, nil); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Get(f.ID())
	if m.Item != other || m.Name != "report.txt" || m.Scratch || m.Mode != mode || m.ContentType != "text/plain" {
		t.Fatalf("after Rename/SetAttr: %+v", m)
	}
	if got := s.List(testItem); len(got) != 0 {
		t.Fatalf("List(old item) = %+v, want nothing", got)
	}
	if got := s.List(other); len(got) != 1 || got[0].ID != f.ID() {
		t.Fatalf("List(new item) = %+v", got)
	}
	if err := s.Rename(ctx, "nope", other, "x", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rename of an unknown id: %v", err)
	}
	if err := s.SetAttr("nope", &mode, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAttr of an unknown id: %v", err)
	}
}

func TestClone(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	data := randBytes(3, 2*ChunkSize+99)
	orig := writeFile(t, s, testItem, "doc.bin", data)
	c, err := s.Clone(ctx, orig.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.ID() == orig.ID() || c.Size() != int64(len(data)) {
		t.Fatalf("clone id %s size %d", c.ID(), c.Size())
	}
	if _, err := c.WriteAt([]byte("CHANGED"), ChunkSize); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(data)
	copy(want[ChunkSize:], "CHANGED")
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, c.ID(), int64(len(want))); !bytes.Equal(got, want) {
		t.Fatal("clone's bytes differ")
	}
	if got := readAll(t, s, orig.ID(), int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the original changed")
	}
	m, _ := s.Get(c.ID())
	if m.Name != "doc.bin" || m.Item != testItem || m.State != StateCommitted {
		t.Fatalf("clone meta %+v", m)
	}
	if _, err := s.Clone(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Clone of an unknown id: %v", err)
	}
}

func TestScratchFilesExpire(t *testing.T) {
	s := openT(t, Options{ScratchTTL: 50 * time.Millisecond})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".rsync.tmp", Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("temp"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, ok := s.Get(f.ID()); !ok {
		t.Fatal("an open scratch file expired")
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the closed scratch file to expire", func() bool {
		_, ok := s.Get(f.ID())
		return !ok
	})
}

// The spool holds a user's files: its directories are 0700, its data files 0600 (whatever the umask).
func TestDirIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir() + "/profile/spool"
	s := openT(t, Options{Dir: dir})
	f, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "secret.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("private"), 0); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir:                                     0o700,
		filepath.Join(dir, dataDirName):         0o700,
		filepath.Join(dir, dataDirName, f.ID()): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	checkPrivateTree(t, dir)
}

// checkPrivateTree fails for any directory under dir that is not 0700 and any data file that is
// open to others. Badger creates its own files 0666 less the umask (it has no setting for it):
// the 0700 directory keeps them private, and cmd/outlookfs runs with umask 077
// (TestMountStateIsPrivate).
func checkPrivateTree(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() && fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: mode %v, want 0700", path, fi.Mode().Perm())
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(path)) == dataDirName && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("file %s: mode %v, open to others", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A spool directory that already exists with loose modes (made by hand, or by an older
// version) is tightened when the spool opens.
func TestExistingDirIsMadePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir() + "/spool"
	if err := os.MkdirAll(filepath.Join(dir, dataDirName), 0o777); err != nil {
		t.Fatal(err)
	}
	s := openT(t, Options{Dir: dir})
	f, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "secret.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("private"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	checkPrivateTree(t, dir)
}

func TestSpoolReadAtSeesTheWritersBuffer(t *testing.T) {
	s := openT(t, Options{})
	f, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "open.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("not flushed yet"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, f.ID(), 15); string(got) != "not flushed yet" {
		t.Fatalf("Spool.ReadAt of an open file = %q", got)
	}
}

func TestNoSpaceMapsDiskFullErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"wrapped errno", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"quota", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, true},
		{"text only, as Badger wraps with %+v", errors.New("while mmapping: no space left on device"), true},
		{"other error", errors.New("permission denied"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := noSpace(tc.err)
			if errors.Is(got, ErrNoSpace) != tc.want {
				t.Fatalf("noSpace(%v) = %v", tc.err, got)
			}
			if tc.want && !errors.Is(got, syscall.ENOSPC) {
				t.Fatalf("noSpace(%v) does not match ENOSPC", tc.err)
			}
		})
	}
}

// A background sync that fails (a disk I/O error) makes the file's Commit fail: the kernel
// reports a writeback error to one fsync only, so Commit's own sync would succeed with the
// bytes lost. Other files are not affected.
func TestBackgroundSyncErrorFailsCommit(t *testing.T) {
	s := openT(t, Options{})
	var mu sync.Mutex
	calls := 0
	s.syncFile = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return fmt.Errorf("spool: sync data file: %w", syscall.EIO)
		}
		return syncData(f)
	}
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	block := randBytes(5, 1<<20)
	for off := int64(0); off < syncEvery+4<<20; off += int64(len(block)) {
		if _, err := f.WriteAt(block, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Commit(ctx); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Commit after a failed background sync = %v, want EIO", err)
	}
	if m, _ := s.Get(f.ID()); m.State != StateWriting {
		t.Fatalf("the file is %s, want still writing (never uploaded)", m.State)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync after a failed background sync = %v, want EIO", err)
	}
	g := writeFile(t, s, testItem, "small.txt", []byte("fine"))
	if m, _ := s.Get(g.ID()); m.State != StateCommitted {
		t.Fatalf("another file: %s, want committed", m.State)
	}
}

// A write that fails before writing anything (here: pwrite on a descriptor the
// kernel refuses; on a real disk an EIO or ENOSPC) leaves the file as it was:
// its size does not grow to the write's offset, and the spool does not count
// the bytes against MaxBytes.
func TestFailedWritePastTheEndKeepsTheSize(t *testing.T) {
	s := openT(t, Options{})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "grow.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	// Swap the data file for a read-only descriptor on it: the next pwrite fails with n == 0.
	ro, err := os.Open(s.dataPath(f.ID()))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	rw := f.data
	f.data = ro
	f.mu.Unlock()
	n, err := f.WriteAt([]byte("world"), 1000)
	f.mu.Lock()
	f.data = rw
	f.mu.Unlock()
	ro.Close()
	if err == nil || n != 0 {
		t.Fatalf("WriteAt on a read-only descriptor = %d, %v; want 0 and an error", n, err)
	}
	if got := f.Size(); got != 5 {
		t.Errorf("size after a write that wrote nothing = %d, want 5", got)
	}
	if fi, err := os.Stat(s.dataPath(f.ID())); err != nil || fi.Size() != 5 {
		t.Errorf("data file after a write that wrote nothing: %v, %v; want 5 bytes", fi.Size(), err)
	}
	s.mu.Lock()
	used := s.used
	s.mu.Unlock()
	if used != 5 {
		t.Errorf("spool holds %d bytes, want 5", used)
	}
}

// A file created while Close waits for an upload in flight is closed with the spool like
// any open file: its data file's descriptor does not outlive the spool, and it stays
// writing (abandoned at the next Open, never uploaded).
func TestCreateDuringCloseIsClosedWithTheSpool(t *testing.T) {
	fk := newFake(testItem)
	hook, reached := blockAt("post", 0)
	fk.setBefore(hook)
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir, Uploader: fk, Logger: testLogger(t), CloseGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	writeFile(t, s, testItem, "inflight.txt", []byte("on the wire"))
	<-reached
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(t, time.Minute, "Close to start", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closing
	})
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "late.txt"})
	if err != nil {
		t.Skipf("Create during Close: %v (Close was quicker than the test)", err)
	}
	if _, err := f.WriteAt([]byte("late"), 0); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	open := f.data != nil
	f.mu.Unlock()
	if open {
		t.Fatal("the data file of a file created during Close is still open after Close")
	}
	if _, err := f.WriteAt([]byte("x"), 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteAt after Close = %v, want ErrClosed", err)
	}
	s = openT(t, Options{Dir: dir, Uploader: newFake(testItem)})
	if m, ok := s.Get(f.ID()); !ok || !m.Abandoned {
		t.Fatalf("the file created during Close after a reopen: %+v, %v; want abandoned", m, ok)
	}
}

// A file's data file goes only once the record saying it may go (removed, attached, failed)
// is synced: records are written without a sync, and a power loss could otherwise bring
// back a committed record whose bytes are gone (then failed as "removed from the spool
// directory", though it was removed by its user, or attached). While the database cannot
// be synced, the data file stays.
func TestDataFileGoesOnlyAfterItsRecordIsSynced(t *testing.T) {
	s := openT(t, Options{})
	var failing atomic.Bool
	var calls atomic.Int32
	s.syncDB = func() error {
		calls.Add(1)
		if failing.Load() {
			return fmt.Errorf("badger sync: %w", syscall.EIO)
		}
		return s.db.Sync()
	}
	f := writeFile(t, s, testItem, "gone.txt", []byte("bytes"))
	failing.Store(true)
	before := calls.Load()
	if err := s.Remove(context.Background(), f.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the janitor to try", func() bool { return calls.Load() > before || !hasData(s, f.ID()) })
	time.Sleep(50 * time.Millisecond)
	if !hasData(s, f.ID()) {
		t.Fatal("the data file was deleted although its record's removal could not be synced")
	}
	failing.Store(false)
	s.kickJanitor()
	waitFor(t, time.Minute, "the data file to be deleted", func() bool { return !hasData(s, f.ID()) })
}

// A Commit whose database sync fails returns the error, and the file is never uploaded: not
// now, and not after a restart that finds the "committed" record on disk after all.
func TestCommitWhoseSyncFailsIsNeverUploaded(t *testing.T) {
	dir := t.TempDir()
	fk := newFake(testItem)
	s := openDir(t, dir, fk)
	var failing atomic.Bool
	s.syncDB = func() error {
		if failing.CompareAndSwap(true, false) {
			return fmt.Errorf("badger sync: %w", syscall.EIO)
		}
		return s.db.Sync()
	}
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "unsure.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("maybe"), 0); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	if err := f.Commit(ctx); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Commit with a failing sync = %v, want EIO", err)
	}
	if m, _ := s.Get(f.ID()); m.State != StateWriting {
		t.Fatalf("after the failed Commit the file is %s, want writing", m.State)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir, Uploader: fk})
	var ue *UploadError
	if _, err := s.Wait(ctx, f.ID(), nil); !errors.As(err, &ue) {
		t.Fatalf("after a restart: Wait = %v, want the file abandoned", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := fk.count("post"); n != 0 {
		t.Fatalf("a file whose close failed was uploaded (%d POSTs)", n)
	}
}

// A file one of whose writes or truncates failed is never committed: it may be cut short or
// have a hole (issue 11: a full spool attached the part that fitted).
func TestFailedWriteBreaksTheFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(f *File) error
		want error
	}{
		{"write past MaxBytes", func(f *File) error { _, err := f.WriteAt(make([]byte, 1<<20), 4<<20); return err }, ErrNoSpace},
		{"write past MaxFileSize", func(f *File) error { _, err := f.WriteAt(make([]byte, 1), 5<<20); return err }, ErrFileTooBig},
		{"truncate past MaxBytes", func(f *File) error { return f.Truncate(5 << 20) }, ErrNoSpace},
		{"truncate past MaxFileSize", func(f *File) error { return f.Truncate(5<<20 + 1) }, ErrFileTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, Options{MaxFileSize: 5 << 20, MaxBytes: 8 << 20})
			ctx := context.Background()
			other := writeFile(t, s, testItem, "other", make([]byte, 4<<20))
			f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "broken"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("start"), 0); err != nil {
				t.Fatal(err)
			}
			if err := tc.fail(f); !errors.Is(err, tc.want) {
				t.Fatalf("the failing call: %v, want %v", err, tc.want)
			}
			if _, err := f.WriteAt([]byte("more"), 5); err != nil {
				t.Fatalf("a later write that fits: %v", err)
			}
			if err := f.Commit(ctx); !errors.Is(err, tc.want) {
				t.Fatalf("Commit after a failed write: %v, want %v", err, tc.want)
			}
			if m, _ := s.Get(f.ID()); m.State != StateWriting {
				t.Fatalf("state after the refused commit: %s, want writing", m.State)
			}
			if err := f.Abandon(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := s.Get(f.ID()); ok {
				t.Fatal("the broken file is still there after Abandon")
			}
			_ = other
		})
	}
}
