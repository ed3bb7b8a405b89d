package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// File is one writer's handle on a spooled file. It is safe for concurrent use.
//
// Writes go to one in-memory chunk buffer (ChunkSize bytes); moving to another
// chunk stores the buffered one and loads the new one (read-modify-write), so
// memory per open file is one chunk whatever the file's size.
type File struct {
	s *Spool
	e *entry

	mu     sync.Mutex
	buf    []byte // the buffered chunk (nil: none); bytes at or past the file's size are zero
	bufIdx int64  // its index, -1 with no buffer
	dirty  bool   // buf differs from the stored chunk
	done   error  // set once committed (ErrCommitted) or dropped (ErrNotFound)
}

// Create starts a new file in state writing.
func (s *Spool) Create(ctx context.Context, o CreateOptions) (*File, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if o.Name == "" {
		return nil, errors.New("spool: create: empty name")
	}
	now := time.Now()
	r := record{Meta: Meta{
		ID: newID(), Item: o.Item, Name: o.Name, Scratch: o.Scratch, State: StateWriting,
		Mode: o.Mode, Mtime: now, Created: now, ContentType: o.ContentType, Replaces: o.Replaces,
	}}
	if err := s.putRecord(&r, nil); err != nil {
		return nil, fmt.Errorf("spool: create: %w", err)
	}
	e := newEntry(r)
	e.held = true
	f := &File{s: s, e: e, bufIdx: -1}
	e.writer = f
	s.mu.Lock()
	s.files[e.id] = e
	s.mu.Unlock()
	s.log.Debug("created", "id", e.id, "item", o.Item, "scratch", o.Scratch)
	return f, nil
}

// Clone starts a new writing file holding a copy of id's bytes (a write after
// close). It keeps id's item, name, scratch flag, content type and mode; it
// replaces id's attachment if id is attached, else what id was to replace.
// A clone of a pending file does not stop that file's upload: remove it if the
// clone supersedes it.
func (s *Spool) Clone(ctx context.Context, id string) (*File, error) {
	src, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	m := src.meta()
	held := src.held
	s.mu.Unlock()
	if !held {
		return nil, fmt.Errorf("spool: clone %s: its bytes are no longer held: %w", id, ErrNotFound)
	}
	replaces := m.Replaces
	if m.State == StateAttached {
		replaces = m.AttachmentID
	}
	f, err := s.Create(ctx, CreateOptions{
		Item: m.Item, Name: m.Name, Scratch: m.Scratch, Replaces: replaces, ContentType: m.ContentType, Mode: m.Mode,
	})
	if err != nil {
		return nil, err
	}
	if err := f.copyFrom(ctx, id, m.Size); err != nil {
		_ = f.Abandon(ctx)
		return nil, fmt.Errorf("spool: clone %s: %w", id, err)
	}
	return f, nil
}

// copyFrom fills the new (empty) file f with size bytes of file src, chunk by chunk.
func (f *File) copyFrom(ctx context.Context, src string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.grow(size); err != nil {
		return err
	}
	f.ensureBuf()
	for i := range chunkCount(size) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := chunkLen(size, i)
		if _, err := f.s.ReadAt(src, f.buf[:n], i*ChunkSize); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := f.s.putChunk(f.e, i, f.buf[:n]); err != nil {
			return err
		}
	}
	f.releaseBuf()
	return nil
}

// ID returns the file's id.
func (f *File) ID() string { return f.e.id }

// Size returns the file's current size.
func (f *File) Size() int64 {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.e.size
}

// usable checks that the handle may change the file. Callers hold f.mu.
func (f *File) usable() error {
	if f.done != nil {
		return f.done
	}
	return nil
}

// WriteAt writes p at off. A write that would take the file past MaxFileSize
// fails whole with ErrFileTooBig; a full spool or disk gives ErrNoSpace.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.s.enter(); err != nil {
		return 0, err
	}
	defer f.s.leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("spool: write at negative offset %d", off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	if end > f.s.opts.MaxFileSize || end < off {
		return 0, ErrFileTooBig
	}
	old := f.Size()
	if err := f.grow(end); err != nil {
		return 0, err
	}
	n := 0
	var err error
	for n < len(p) {
		pos := off + int64(n)
		i, in := pos/ChunkSize, pos%ChunkSize
		piece := p[n:min(len(p), n+int(ChunkSize-in))]
		if err = f.switchTo(i, in == 0 && len(piece) == ChunkSize, old); err != nil {
			break
		}
		copy(f.buf[in:], piece)
		f.dirty = true
		n += len(piece)
	}
	// The size is what was written; give back the reservation of what was not.
	f.s.mu.Lock()
	if reached := off + int64(n); n < len(p) && f.e.size > max(old, reached) {
		_ = f.s.reserveLocked(max(old, reached) - f.e.size)
		f.e.size = max(old, reached)
	}
	f.e.mtime = time.Now()
	f.s.mu.Unlock()
	return n, err
}

// grow makes the file at least size bytes long, reserving the space.
// Callers hold f.mu.
func (f *File) grow(size int64) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if size <= f.e.size {
		return nil
	}
	if err := f.s.reserveLocked(size - f.e.size); err != nil {
		return err
	}
	f.e.size = size
	return nil
}

// switchTo makes chunk i the buffered one: stores the current one if dirty,
// then loads chunk i unless it will be overwritten whole (full) or lies
// entirely at or past oldSize (nothing stored there). Callers hold f.mu.
func (f *File) switchTo(i int64, full bool, oldSize int64) error {
	if f.bufIdx == i && f.buf != nil {
		return nil
	}
	if err := f.flush(); err != nil {
		return err
	}
	f.ensureBuf()
	f.bufIdx = -1
	switch {
	case full:
	case i*ChunkSize >= oldSize:
		clear(f.buf)
	default:
		if err := f.s.loadChunk(f.e.id, i, f.buf); err != nil {
			return err
		}
	}
	f.bufIdx = i
	return nil
}

func (f *File) ensureBuf() {
	if f.buf == nil {
		f.buf = f.s.pool.get()
	}
}

// flush stores the buffered chunk if it is dirty. Callers hold f.mu.
func (f *File) flush() error {
	if !f.dirty || f.buf == nil {
		return nil
	}
	n := chunkLen(f.Size(), f.bufIdx)
	if err := f.s.putChunk(f.e, f.bufIdx, f.buf[:n]); err != nil {
		return err
	}
	f.dirty = false
	return nil
}

// releaseBuf gives the buffer back to the pool (after a flush). Callers hold f.mu.
func (f *File) releaseBuf() {
	f.s.pool.put(f.buf)
	f.buf, f.bufIdx, f.dirty = nil, -1, false
}

// ReadAt reads p at off; past the end it returns io.EOF. Sparse regions read as zeros.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.s.enter(); err != nil {
		return 0, err
	}
	defer f.s.leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(f.done, ErrNotFound) {
		return 0, ErrNotFound
	}
	if off < 0 {
		return 0, fmt.Errorf("spool: read at negative offset %d", off)
	}
	if f.done != nil { // committed: the bytes are all stored
		return f.s.readEntry(f.e, p, off)
	}
	size := f.Size()
	if off >= size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), size-off)]
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		i, in := pos/ChunkSize, pos%ChunkSize
		piece := want[n:min(len(want), n+int(ChunkSize-in))]
		if i == f.bufIdx && f.buf != nil {
			copy(piece, f.buf[in:])
		} else if _, err := f.s.readStored(f.e.id, size, piece, pos); err != nil {
			return n, err
		}
		n += len(piece)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Truncate changes the file's size; growing adds zeros.
func (f *File) Truncate(size int64) error {
	if err := f.s.enter(); err != nil {
		return err
	}
	defer f.s.leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("spool: truncate to negative size %d", size)
	}
	if size > f.s.opts.MaxFileSize {
		return ErrFileTooBig
	}
	old := f.Size()
	if size >= old {
		if err := f.grow(size); err != nil {
			return err
		}
		f.touch()
		return nil
	}
	// Shrink. The chunk holding the new end keeps size%ChunkSize bytes.
	last, keep := size/ChunkSize, size%ChunkSize
	if f.buf != nil && (f.bufIdx > last || (f.bufIdx == last && keep == 0)) {
		f.dirty = false // the buffered chunk lies past the new end
		f.bufIdx = -1
	}
	if keep > 0 {
		if f.bufIdx != last {
			if err := f.switchTo(last, false, old); err != nil {
				return err
			}
		}
		clear(f.buf[keep:])
		f.dirty = true
	}
	if err := f.s.deleteChunks(f.e.id, chunkCount(size), chunkCount(old)); err != nil {
		return err
	}
	f.s.mu.Lock()
	_ = f.s.reserveLocked(size - f.e.size)
	f.e.size = size
	f.s.mu.Unlock()
	// Store the trimmed chunk now, so no stored chunk holds bytes past the size.
	if err := f.flush(); err != nil {
		return err
	}
	f.touch()
	return nil
}

func (f *File) touch() {
	f.s.mu.Lock()
	f.e.mtime = time.Now()
	f.s.mu.Unlock()
}

// Sync stores the buffered chunk and the file's record, then syncs the database (fsync).
func (f *File) Sync() error {
	if err := f.s.enter(); err != nil {
		return err
	}
	defer f.s.leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(f.done, ErrNotFound) {
		return ErrNotFound
	}
	if f.done == nil {
		if err := f.flush(); err != nil {
			return err
		}
		if err := f.s.update(f.e, -1, nil); err != nil {
			return err
		}
	}
	return f.s.sync()
}

// Commit ends the writing: the bytes and the record are stored and synced,
// the state becomes committed and the file is queued for upload (a scratch
// file is kept, not queued, until renamed to an ordinary name). Committing
// twice is a no-op.
func (f *File) Commit(ctx context.Context) error {
	if err := f.s.enter(); err != nil {
		return err
	}
	defer f.s.leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(f.done, ErrCommitted) {
		return nil
	}
	if err := f.usable(); err != nil {
		return err
	}
	if err := f.flush(); err != nil {
		return err
	}
	err := f.s.update(f.e, -1, func(r *record) error {
		r.State = StateCommitted
		r.CommittedAt = time.Now()
		return nil
	})
	if err != nil {
		return err
	}
	if err := f.s.sync(); err != nil {
		return err
	}
	f.releaseBuf()
	f.done = ErrCommitted
	f.s.mu.Lock()
	f.e.writer = nil
	scratch := f.e.rec.Scratch
	f.s.mu.Unlock()
	f.s.log.Debug("committed", "id", f.e.id, "size", f.Size(), "scratch", scratch)
	if !scratch {
		f.s.enqueue(f.e.id)
	}
	return nil
}

// Abandon drops the file and its bytes.
func (f *File) Abandon(ctx context.Context) error {
	if err := f.s.Remove(ctx, f.e.id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// kill makes the handle unusable after its file was removed; it drops the buffer.
func (f *File) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = ErrNotFound
	}
	f.releaseBuf()
}

// closeForShutdown stores the buffered chunk of a still-open file (the spool is closing).
func (f *File) closeForShutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done != nil {
		return nil
	}
	err := f.flush()
	f.releaseBuf()
	f.done = ErrClosed
	return err
}

func (s *Spool) sync() error {
	if err := s.db.Sync(); err != nil {
		return noSpace(fmt.Errorf("spool: sync: %w", err))
	}
	return nil
}

func newEntry(r record) *entry {
	return &entry{id: r.ID, rec: r, size: r.Size, mtime: r.Mtime, changed: make(chan struct{})}
}
