package fs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// fileNode is one file in an item directory: an attachment on the server, a local file in the
// spool on its way to become one, or both (a replacement being written for an attachment).
type fileNode struct {
	gofs.Inode
	fs *FS

	// writeMu serialises what changes the file's bytes (write, truncate, flush). It may be held
	// across spool and network calls; mu never is.
	writeMu sync.Mutex

	mu           sync.Mutex
	item         graph.ItemRef
	name         string
	writableItem bool
	kind         fileKind
	att          *graph.Attachment // the attachment on the server, once there is one
	spoolID      string            // the local file in the spool, while there is one
	active       *spool.File       // the spool file being written, while it is open for writing
	dirty        bool              // written, truncated or created since the last flush
	writers      int
	handles      int  // open descriptors (file handles), for reading or writing
	gone         bool // unlinked
	// poison: a write, truncate or allocate of the open version failed (past the size limit, a
	// full spool or disk, an I/O error): the version is cut short or has a hole, so the next flush
	// drops it and fails with this errno, and nothing is attached.
	poison syscall.Errno
	// ownAtt: att was uploaded by a flush while the file stayed open (dd dup2s its descriptor
	// and closes the first, so an empty version is attached before any write). If that open
	// ends in EFBIG, the early version is deleted too: a failed write leaves nothing attached.
	ownAtt bool
	// awaited counts, by spool id, the closes (and renames) waiting for a version's upload. A
	// write that starts the next version must not cancel an awaited one (see ensureActive).
	awaited map[string]int
	mode    uint32    // keptMode(perm) once given (create, chmod, an ACL), 0 while none was (shown 0644)
	mtime   time.Time // of the bytes: the last write, truncate, or the time set (utimens)
	ctime   time.Time // of the file: the last change of its bytes or attributes here; zero: mtime
	size    int64     // true byte length when known, else -1
}

// modeGiven is set in every mode kept, in the node and in the spool, so that mode 0, a mode like
// any other, is told apart from "none given" (a file made elsewhere, shown 0644).
const modeGiven = syscall.S_IFREG

// keptMode is how a mode given to a file is kept.
func keptMode(perm uint32) uint32 { return modeGiven | perm&0o7777 }

// preferredIOSize is st_blksize of files: the largest write the kernel sends us (MaxWrite).
const preferredIOSize = 1 << 20

// handle is a file handle: go-fuse needs a real one for Release to come.
type handle struct {
	write  bool    // opened for writing, or created the file: its close commits (and uploads) what changed
	stream *stream // sequential reads of an attachment, straight from its download
}

var (
	_ gofs.NodeGetattrer     = (*fileNode)(nil)
	_ gofs.NodeSetattrer     = (*fileNode)(nil)
	_ gofs.NodeOpener        = (*fileNode)(nil)
	_ gofs.NodeReader        = (*fileNode)(nil)
	_ gofs.NodeWriter        = (*fileNode)(nil)
	_ gofs.NodeFlusher       = (*fileNode)(nil)
	_ gofs.NodeFsyncer       = (*fileNode)(nil)
	_ gofs.NodeReleaser      = (*fileNode)(nil)
	_ gofs.NodeAllocater     = (*fileNode)(nil)
	_ gofs.NodeGetxattrer    = (*fileNode)(nil)
	_ gofs.NodeSetxattrer    = (*fileNode)(nil)
	_ gofs.NodeListxattrer   = (*fileNode)(nil)
	_ gofs.NodeRemovexattrer = (*fileNode)(nil)
)

// refresh brings the node in line with a fresh listing entry, unless it is being written.
func (n *fileNode) refresh(e fileEntry, writableItem bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.writableItem = writableItem && e.kind == kindFile
	n.kind = e.kind
	n.gone = false
	if n.active != nil {
		return
	}
	if e.meta != nil {
		if n.spoolID != e.meta.ID {
			n.size = -1
		}
		n.spoolID = e.meta.ID
		if e.meta.Replaces != "" {
			n.att = &graph.Attachment{ID: e.meta.Replaces, Name: e.meta.Name, Kind: graph.FileAttachment}
		}
		if n.mode == 0 {
			n.mode = e.meta.Mode
		}
		if n.mtime.IsZero() {
			n.mtime = e.meta.Mtime // a remount's new node: the time cp -p set, or of the last write
		}
		return
	}
	if n.att == nil || n.att.ID != e.att.ID {
		n.size = -1
	}
	n.spoolID = ""
	a := *e.att
	n.att = &a
}

// vanish tells the kernel to forget this file's name: a file whose upload failed is not in the
// item any more, and a program that looks right after its close failed must not find it. No lock
// of ours is held; the notification runs aside and is waited for a moment only (go-fuse warns
// that notifying from inside an operation can deadlock; a flush is not an operation on the
// directory the kernel then locks, but the wait is bounded all the same).
func (n *fileNode) vanish() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		name, parent := n.Parent()
		if parent != nil {
			parent.NotifyEntry(name)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		n.fs.log.Debug("the kernel took long to forget a failed file's name", "name", n.name)
	}
}

// markGone marks the file unlinked and says whether it was already.
func (n *fileNode) markGone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	was := n.gone
	n.gone = true
	return was
}

// unmarkGone undoes markGone after an unlink that failed.
func (n *fileNode) unmarkGone() {
	n.mu.Lock()
	n.gone = false
	n.mu.Unlock()
}

func (n *fileNode) perm() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.writableItem {
		return 0o444
	}
	if n.mode != 0 {
		return n.mode & 0o7777
	}
	return 0o644
}

func (n *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	size, errno := n.currentSize(ctx)
	if errno != 0 {
		return errno
	}
	out.Mode = syscall.S_IFREG | n.perm()
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	// A large preferred I/O size makes cp, dd-less tools and GIO write 1 MiB at a time (the
	// kernel's FUSE maximum) instead of 128 KiB: eight times fewer requests into the spool.
	out.Blksize = preferredIOSize
	n.mu.Lock()
	// A file unlinked (or dropped after a failed close) is in no directory any more: fstat of a
	// descriptor still open on it says so, as on any filesystem.
	out.Nlink = 1
	if n.gone {
		out.Nlink = 0
	}
	t := n.mtime
	if t.IsZero() && n.att != nil {
		t = n.att.LastModified
	}
	ct := n.ctime
	n.mu.Unlock()
	setTimes(&out.Attr, t)
	if !ct.IsZero() {
		out.SetTimes(nil, nil, &ct)
	}
	return 0
}

// currentSize is the file's true length: from the open spool file, the spool's record, or the
// attachment's real content (never Graph's listed size, which is larger than the bytes).
func (n *fileNode) currentSize(ctx context.Context) (int64, syscall.Errno) {
	n.mu.Lock()
	active, spoolID, att, kind, size := n.active, n.spoolID, n.att, n.kind, n.size
	n.mu.Unlock()
	switch {
	case active != nil:
		return active.Size(), 0
	case spoolID != "":
		if m, ok := n.fs.opts.Spool.Get(spoolID); ok {
			if m.State == spool.StateAttached && m.AttachmentID != "" {
				n.attached(spoolID, m)
			}
			return m.Size, 0
		}
		if size >= 0 {
			return size, 0
		}
		return 0, 0
	case kind == kindReference && att != nil:
		return int64(len(referenceText(att))), 0
	case att != nil:
		if size >= 0 {
			return size, 0
		}
		s, err := n.fs.trueSize(ctx, n.item, att.ID)
		if err != nil {
			n.fs.log.Warn("cannot learn an attachment's size", "name", n.name, "err", err)
			return 0, toErrno(err)
		}
		n.mu.Lock()
		if n.att != nil && n.att.ID == att.ID {
			n.size = s
		}
		n.mu.Unlock()
		return s, 0
	}
	return 0, 0
}

// attached records that the spool file id became attachment m.AttachmentID.
func (n *fileNode) attached(id string, m spool.Meta) {
	n.mu.Lock()
	if n.spoolID == id {
		n.spoolID = ""
		n.att = &graph.Attachment{ID: m.AttachmentID, Name: m.Name, Kind: graph.FileAttachment, LastModified: n.fs.opts.Now()}
		n.size = m.Size
		n.ownAtt = n.writers > 0
	}
	item := n.item
	n.mu.Unlock()
	if n.fs.opts.Cache != nil {
		_ = n.fs.opts.Cache.SetSize(m.AttachmentID, m.Size)
	}
	n.fs.itemListing(item.ID).invalidate()
}

// Setattr: mode, owner and times are accepted (cp -p, rsync -a, touch and GIO need that) and
// kept locally; a size change truncates through the spool.
func (n *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	// The size first: a truncate sets mtime to now, a time given along with it wins.
	if size, ok := in.GetSize(); ok {
		if errno := n.truncate(ctx, fh, int64(size)); errno != 0 {
			return errno
		}
	}
	if m, ok := in.GetMode(); ok {
		n.setMode(m)
	}
	if mt, ok := in.GetMTime(); ok {
		n.mu.Lock()
		n.mtime = mt
		id := n.spoolID
		n.mu.Unlock()
		if id != "" {
			_ = n.fs.opts.Spool.SetAttr(id, nil, &mt)
		}
	}
	// Any change of the file's attributes is one of its ctime (POSIX: chmod, chown, utimens, truncate).
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID|fuse.FATTR_SIZE|fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		n.mu.Lock()
		n.ctime = n.fs.opts.Now()
		n.mu.Unlock()
	}
	return n.Getattr(ctx, fh, out)
}

// setMode keeps a mode locally (and in the spool for a file not attached yet); it is never sent.
func (n *fileNode) setMode(m uint32) {
	mode := keptMode(m)
	n.mu.Lock()
	n.mode = mode
	id := n.spoolID
	n.mu.Unlock()
	if id != "" {
		_ = n.fs.opts.Spool.SetAttr(id, &mode, nil)
	}
}

func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h := &handle{write: flags&syscall.O_ACCMODE != syscall.O_RDONLY}
	if !h.write {
		n.mu.Lock()
		att, kind, spoolID := n.att, n.kind, n.spoolID
		n.mu.Unlock()
		if att != nil && spoolID == "" && kind != kindReference && !n.fs.opts.Cache.Has(att.ID) {
			h.stream = &stream{fs: n.fs, item: n.item, id: att.ID}
		}
		n.mu.Lock()
		n.handles++
		n.mu.Unlock()
		return h, 0, 0
	}
	n.mu.Lock()
	ok := n.writableItem && !n.gone
	n.mu.Unlock()
	if !ok {
		return nil, 0, syscall.EACCES
	}
	if flags&syscall.O_TRUNC != 0 {
		if errno := n.truncate(ctx, h, 0); errno != 0 {
			return nil, 0, errno
		}
	}
	n.mu.Lock()
	n.writers++
	n.handles++
	n.mu.Unlock()
	return h, 0, 0
}

func (n *fileNode) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	got, err := n.read(ctx, fh, dest, off)
	if errors.Is(err, spool.ErrNotFound) {
		// The version read from the spool was attached (its bytes dropped) or superseded by
		// another descriptor's write since we looked: read what the file is now.
		n.settle()
		got, err = n.read(ctx, fh, dest, off)
	}
	if err != nil && !isEOF(err) {
		n.fs.log.Error("read failed", "name", n.name, "err", err)
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

func (n *fileNode) read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (int, error) {
	n.mu.Lock()
	active, spoolID, att, kind := n.active, n.spoolID, n.att, n.kind
	n.mu.Unlock()
	var (
		got int
		err error
	)
	switch {
	case active != nil:
		got, err = active.ReadAt(dest, off)
	case spoolID != "":
		got, err = n.fs.opts.Spool.ReadAt(spoolID, dest, off)
	case kind == kindReference && att != nil:
		text := referenceText(att)
		if off < int64(len(text)) {
			got = copy(dest, text[off:])
		}
	case att != nil:
		if h, ok := fh.(*handle); ok && h.stream != nil && h.stream.id == att.ID {
			got, err = h.stream.ReadAt(ctx, dest, off)
		} else {
			got, err = n.fs.readAttachment(ctx, n.item, att.ID, dest, off)
		}
	}
	return got, err
}

func (n *fileNode) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if off+int64(len(data)) > n.fs.opts.MaxFileSize {
		n.tooBig()
		return 0, syscall.EFBIG
	}
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	f, errno := n.ensureActive(ctx, false)
	if errno != 0 {
		return 0, errno
	}
	w, err := f.WriteAt(data, off)
	if err != nil {
		errno := toErrno(err)
		n.poisonWith(errno)
		n.fs.log.Error("write to the spool failed; the close will fail and nothing will be attached", "name", n.name, "errno", errno, "err", err)
		return uint32(w), errno
	}
	n.mu.Lock()
	n.dirty = true
	n.mtime = n.fs.opts.Now()
	n.ctime = n.mtime
	n.mu.Unlock()
	return uint32(w), 0
}

// Allocate (fallocate) grows the file like a truncate would. FALLOC_FL_KEEP_SIZE alone only
// reserves room, which a file in the spool needs not: nothing to do. Punching holes, zeroing,
// collapsing or inserting ranges is not supported.
func (n *fileNode) Allocate(ctx context.Context, fh gofs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	if mode == unix.FALLOC_FL_KEEP_SIZE {
		return 0
	}
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	cur, errno := n.currentSize(ctx)
	if errno != 0 {
		return errno
	}
	if end := int64(off + size); end > cur {
		return n.truncate(ctx, fh, end)
	}
	return 0
}

// tooBig logs why a write failed with EFBIG and poisons the open version: the close that follows
// must fail too and attach nothing, not upload a truncated file.
func (n *fileNode) tooBig() {
	n.poisonWith(syscall.EFBIG)
	n.fs.log.Error("file too large to attach: "+n.fs.opts.TooBigReason, "name", n.name, "limit", n.fs.opts.MaxFileSize)
	n.fs.recordFailure(n.name, n.fs.opts.TooBigReason)
}

// poisonWith marks the open version as broken by a failed write (the first errno is kept): its
// close fails with that errno and drops it.
func (n *fileNode) poisonWith(errno syscall.Errno) {
	n.mu.Lock()
	if n.poison == 0 {
		n.poison = errno
	}
	n.mu.Unlock()
}

// poisonReason is what the log and .outlookfs/failures say about a version dropped because a
// write failed with errno.
func (n *fileNode) poisonReason(errno syscall.Errno) string {
	switch errno {
	case syscall.EFBIG:
		return n.fs.opts.TooBigReason
	case syscall.ENOSPC, syscall.EDQUOT:
		return "a write failed because the spool is full (its size limit, --spool-max, or the disk holding it), so the file is " +
			"incomplete: nothing was attached and its bytes were dropped; wait for the pending uploads, raise --spool-max " +
			"or free space on that disk, then copy the file again"
	}
	return "a write to the spool failed (" + errno.Error() + "), so the file is incomplete: nothing was attached and its " +
		"bytes were dropped; check the disk holding the spool, then copy the file again"
}

// truncate sets the length; with no open file handle (truncate(2) by path) it is a whole
// write: the new version is uploaded before it returns.
func (n *fileNode) truncate(ctx context.Context, fh gofs.FileHandle, size int64) syscall.Errno {
	if size > n.fs.opts.MaxFileSize {
		n.tooBig()
		return syscall.EFBIG
	}
	n.mu.Lock()
	ok := n.writableItem
	n.mu.Unlock()
	if !ok {
		return syscall.EACCES
	}
	n.writeMu.Lock()
	n.mu.Lock()
	// Changes no descriptor will close: a truncate by path is then the whole change, uploaded
	// before it returns, though descriptors be open (one that never wrote; or the writer whose
	// close just returned, whose RELEASE the kernel sends later).
	unflushed := n.dirty
	n.mu.Unlock()
	f, errno := n.ensureActive(ctx, size == 0)
	if errno != 0 {
		n.writeMu.Unlock()
		return errno
	}
	if err := f.Truncate(size); err != nil {
		n.writeMu.Unlock()
		errno := toErrno(err)
		n.poisonWith(errno)
		n.fs.log.Error("truncate in the spool failed; the close will fail and nothing will be attached", "name", n.name, "errno", errno, "err", err)
		return errno
	}
	n.mu.Lock()
	n.dirty = true
	n.mtime = n.fs.opts.Now() // POSIX: truncate, ftruncate and O_TRUNC update mtime and ctime, written to or not
	n.ctime = n.mtime
	byPath := fh == nil && (n.writers == 0 || !unflushed)
	n.mu.Unlock()
	n.writeMu.Unlock()
	if byPath {
		return n.flush(ctx)
	}
	return 0
}

// ensureActive returns the spool file that writes go to, starting one when the file is not
// open for writing yet: a copy of the current bytes (or empty, when truncating) that will
// replace the attachment. The caller holds writeMu.
func (n *fileNode) ensureActive(ctx context.Context, truncate bool) (*spool.File, syscall.Errno) {
	n.mu.Lock()
	active, spoolID, att, name, item, mode, gone := n.active, n.spoolID, n.att, n.name, n.item, n.mode, n.gone
	n.mu.Unlock()
	if active != nil {
		return active, 0
	}
	if gone {
		return nil, syscall.ENOENT
	}
	sp := n.fs.opts.Spool
	replaces := ""
	if att != nil {
		replaces = att.ID
	}
	var (
		f   *spool.File
		err error
	)
	if spoolID != "" {
		m, ok := sp.Get(spoolID)
		if ok && m.State != spool.StateAttached {
			replaces = m.Replaces
			if truncate {
				f, err = sp.Create(ctx, spool.CreateOptions{Item: item, Name: name, Scratch: isScratch(name) && replaces == "", Replaces: replaces, Mode: mode})
			} else {
				f, err = sp.Clone(ctx, spoolID)
				if now, ok := sp.Get(spoolID); err != nil && ok && now.State == spool.StateAttached {
					// Attached (its bytes dropped) since we looked: start from the attachment.
					m, err = now, nil
				}
			}
			if f != nil {
				err = n.supersede(ctx, spoolID, f)
			}
		}
		if ok && m.State == spool.StateAttached {
			replaces = m.AttachmentID
		}
	}
	if f == nil && err == nil {
		f, err = sp.Create(ctx, spool.CreateOptions{Item: item, Name: name, Scratch: isScratch(name) && replaces == "", Replaces: replaces, Mode: mode})
		if err == nil && !truncate && replaces != "" {
			err = n.fs.copyAttachment(ctx, item, replaces, f)
		}
	}
	if err != nil {
		if f != nil {
			_ = f.Abandon(ctx)
		}
		n.fs.log.Error("could not start a new version of a file", "name", name, "err", err)
		return nil, toErrno(err)
	}
	n.mu.Lock()
	n.active, n.spoolID = f, f.ID()
	n.mu.Unlock()
	n.fs.itemListing(item.ID).unstore() // a new version will replace the listed attachment
	return f, 0
}

// supersede makes f, the version just started, take the place of the previous one (prev, not
// attached yet). Nobody waiting for prev, it is dropped: its upload need not happen. But a
// close (of another descriptor) may be waiting for prev's upload: cancelling it would fail that
// close, and a request of it already on the wire could still attach it, beside f. So prev is
// let finish, and f replaces the attachment it becomes. The caller holds writeMu, which the
// closes waiting do not need.
func (n *fileNode) supersede(ctx context.Context, prev string, f *spool.File) error {
	sp := n.fs.opts.Spool
	n.mu.Lock()
	awaited := n.awaited[prev] > 0
	n.mu.Unlock()
	if !awaited {
		_ = sp.Remove(ctx, prev)
		return nil
	}
	m, err := sp.Wait(ctx, prev, nil)
	switch {
	case err == nil && m.AttachmentID != "":
		return sp.SetReplaces(f.ID(), m.AttachmentID)
	case ctx.Err() != nil:
		return err
	}
	// prev failed (its close says so) or was removed: f replaces what prev would have.
	return nil
}

// await records that a close (or rename) is about to wait for version id's upload; the caller
// holds writeMu, so that no write can start the next version in between. waitUpload undoes it.
func (n *fileNode) await(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.awaited == nil {
		n.awaited = map[string]int{}
	}
	n.awaited[id]++
}

func (n *fileNode) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	n.mu.Lock()
	f := n.active
	n.mu.Unlock()
	if f == nil {
		return 0
	}
	if err := f.Sync(); err != nil {
		n.fs.log.Error("spool sync failed", "name", n.name, "err", err)
		return toErrno(err)
	}
	return 0
}

// drop throws away the open version f after a write to it or its commit failed; the caller
// holds writeMu, which drop releases. A version attached early by a flush while the file stayed
// open (see ownAtt) is deleted too: a failed write leaves nothing attached. A replacement that
// fails leaves the previous attachment in place; a new file is gone.
func (n *fileNode) drop(ctx context.Context, f *spool.File, errno syscall.Errno) {
	n.mu.Lock()
	name, item := n.name, n.item
	var early *graph.Attachment
	if n.ownAtt {
		early, n.att, n.ownAtt = n.att, nil, false
	}
	n.active, n.dirty, n.poison, n.spoolID, n.gone = nil, false, 0, "", n.att == nil
	n.mu.Unlock()
	n.writeMu.Unlock()
	if f != nil {
		if err := f.Abandon(ctx); err != nil {
			n.fs.log.Warn("could not drop the bytes of a file whose write failed", "name", name, "err", err)
		}
	}
	if early != nil {
		if err := n.fs.opts.Backend.DeleteAttachment(ctx, item, early.ID); err != nil && !graph.IsNotFound(err) {
			n.fs.log.Error("could not delete the partial version of a file whose write failed; delete it by hand",
				"name", name, "errno", errno, "err", err)
		}
		n.fs.forgetAttachment(item, early.ID)
	}
	n.fs.itemListing(item.ID).invalidate()
	n.mu.Lock()
	gone := n.gone
	n.mu.Unlock()
	if gone {
		n.vanish()
	}
}

// Flush comes once per close(2) of every descriptor. A dirty, ordinary file is committed to
// the spool and, unless the mount is --async, uploaded before close returns; a failure is the
// close's error.
func (n *fileNode) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	if h, ok := fh.(*handle); !ok || !h.write {
		return 0
	}
	return n.flush(ctx)
}

func (n *fileNode) flush(ctx context.Context) syscall.Errno {
	n.writeMu.Lock()
	n.mu.Lock()
	f, dirty, name, poison := n.active, n.dirty, n.name, n.poison
	n.mu.Unlock()
	if poison != 0 {
		n.drop(ctx, f, poison)
		if poison != syscall.EFBIG { // tooBig said why already
			reason := n.poisonReason(poison)
			n.fs.log.Error("could not attach "+name+": "+reason, "errno", poison)
			n.fs.recordFailure(name, reason)
		}
		return poison
	}
	n.mu.Lock()
	gone := n.gone
	n.mu.Unlock()
	if f == nil || !dirty || gone {
		// Unlinked: its bytes stay for the descriptors still open on it and are never attached
		// (Release drops them after the last one).
		n.writeMu.Unlock()
		return 0
	}
	start := time.Now()
	commit := f.Commit
	if !n.fs.opts.Async {
		// The close waits for the upload: should outlookfs die before it returns, the file's
		// cp did not succeed, and no later mount may attach it.
		commit = f.CommitAwaited
	}
	err := commit(ctx)
	n.fs.log.Debug("committed to the spool", "name", name, "size", f.Size(), "took", time.Since(start))
	if err != nil {
		// The bytes may not be on disk (a failed fdatasync), or the record could not be
		// written: this version is never attached.
		errno := toErrno(err)
		n.drop(ctx, f, errno)
		reason := "the spool could not keep the written file (" + err.Error() + "): nothing was attached and its bytes " +
			"were dropped; check the disk holding the spool, then copy the file again"
		n.fs.log.Error("could not attach "+name+": "+reason, "errno", errno)
		n.fs.recordFailure(name, reason)
		return errno
	}
	n.mu.Lock()
	n.active, n.dirty = nil, false
	n.size = f.Size()
	n.mu.Unlock()
	// A scratch file waits for its rename; a version replacing an attachment never is one, even
	// when the server gave the attachment a name that looks like scratch.
	if m, ok := n.fs.opts.Spool.Get(f.ID()); (ok && m.Scratch) || n.fs.opts.Async {
		n.writeMu.Unlock()
		return 0
	}
	n.await(f.ID())
	n.writeMu.Unlock()
	return n.waitUpload(ctx, f.ID())
}

// waitUpload blocks until the spool reports the file attached or failed; the caller announced
// the wait with await. A synchronous close waits through the spool's retries of transient
// failures like --async does, for up to SyncRetryWindow without progress (watchRetries); then
// the upload is cancelled (what a request in flight may still attach is deleted: see
// spool.Remove) and the close fails with EIO, so that a failed cp never attaches its file
// behind the user's back.
func (n *fileNode) waitUpload(ctx context.Context, id string) syscall.Errno {
	defer func() {
		n.mu.Lock()
		if n.awaited[id]--; n.awaited[id] <= 0 {
			delete(n.awaited, id)
		}
		n.mu.Unlock()
	}()
	// Not cut short by the request's interruption: the kernel sends FUSE an INTERRUPT for any
	// signal reaching the closing thread (a Go program's preemption, a shell's SIGCHLD), yet
	// waits for FLUSH's answer all the same. Giving up would report EINTR for a file the spool
	// still attaches. The wait ends with the upload, or with watchRetries below.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	gaveUp := make(chan string, 1)
	if !n.fs.opts.Async {
		go n.fs.watchRetries(ctx, id, gaveUp, cancel)
	}
	m, err := n.fs.opts.Spool.Wait(ctx, id, nil)
	select {
	case reason := <-gaveUp:
		rmCtx, rmCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		_ = n.fs.opts.Spool.Remove(rmCtx, id)
		rmCancel()
		err = &spool.UploadError{Kind: spool.FailOther, Reason: strings.TrimPrefix(reason, "retrying: ")}
	default:
	}
	if errors.Is(err, spool.ErrNotFound) {
		n.mu.Lock()
		gone := n.gone
		n.mu.Unlock()
		if gone {
			return 0 // unlinked meanwhile: nothing to attach, and nothing failed
		}
	}
	if err != nil {
		n.mu.Lock()
		name, item := n.name, n.item
		if n.spoolID == id {
			// A failed replacement leaves the previous attachment in place; a failed new
			// file leaves nothing.
			n.spoolID, n.gone, n.size = "", n.att == nil, -1
		}
		gone := n.gone
		n.mu.Unlock()
		reason := err.Error()
		if ue, ok := err.(*spool.UploadError); ok && ue.Reason != "" {
			reason = ue.Reason
		}
		n.fs.log.Error("could not attach "+name+": "+reason, "item", item.String())
		n.fs.recordFailure(name, reason)
		n.fs.itemListing(item.ID).invalidate()
		if gone {
			n.vanish()
		}
		return toErrno(err)
	}
	n.attached(id, m)
	return 0
}

// watchRetries reports (and cancels the wait) when the spool's retries of a file's upload are
// spent for a synchronous close: the upload kept failing transiently (the spool says
// "retrying: ...") for SyncRetryWindow since the first failure after its last progress.
func (f *FS) watchRetries(ctx context.Context, id string, gaveUp chan<- string, cancel func()) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var since time.Time // when the upload was first seen failing since its last progress
	confirmed := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, ok := f.opts.Spool.Get(id)
		if !ok || m.State == spool.StateAttached {
			continue
		}
		if m.Confirmed != confirmed {
			confirmed, since = m.Confirmed, time.Time{}
		}
		if !strings.HasPrefix(m.Reason, "retrying:") {
			continue
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(since) >= f.opts.SyncRetryWindow {
			gaveUp <- m.Reason
			cancel()
			return
		}
	}
}

// settle notices that the spool finished uploading this file in the background (--async).
func (n *fileNode) settle() {
	n.mu.Lock()
	id, active := n.spoolID, n.active
	n.mu.Unlock()
	if id == "" || active != nil {
		return
	}
	if m, ok := n.fs.opts.Spool.Get(id); ok && m.State == spool.StateAttached && m.AttachmentID != "" {
		n.attached(id, m)
	}
}

// Release comes after the last flush of a descriptor; its errors reach nobody. A file still
// dirty here (a writer that died before its flush) is committed, so nothing written is lost.
func (n *fileNode) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	h, ok := fh.(*handle)
	if !ok {
		return 0
	}
	if h.stream != nil {
		h.stream.close()
	}
	n.mu.Lock()
	n.handles--
	// The last descriptor of an unlinked file is closed: its bytes go.
	var drop *spool.File
	if n.handles <= 0 && n.gone && n.active != nil {
		drop, n.active, n.dirty = n.active, nil, false
	}
	last, dirty := false, false
	if h.write {
		n.writers--
		last = n.writers <= 0
		if last {
			n.ownAtt = false
		}
		dirty = n.dirty
	}
	n.mu.Unlock()
	if drop != nil {
		if err := drop.Abandon(context.WithoutCancel(ctx)); err != nil {
			n.fs.log.Warn("could not drop the bytes of a file unlinked while open", "name", n.name, "err", err)
		}
		return 0
	}
	if last && dirty {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			n.flush(ctx)
		}()
	}
	return 0
}

// rename moves a local (not yet attached) file; the caller checked the target.
func (n *fileNode) rename(ctx context.Context, item graph.ItemRef, newName, replaces string) syscall.Errno {
	n.writeMu.Lock()
	n.mu.Lock()
	id, open := n.spoolID, n.active != nil
	n.mu.Unlock()
	wasScratch := isScratch(n.name)
	if id == "" {
		n.writeMu.Unlock()
		return syscall.EXDEV
	}
	sp := n.fs.opts.Spool
	if replaces != "" {
		// The spool deletes the attachment the file lands on once the file is attached, even
		// across a restart. A file attached already (its upload raced this rename) cannot take
		// it over: that one is deleted here.
		if err := sp.SetReplaces(id, replaces); errors.Is(err, spool.ErrCommitted) {
			if err := n.fs.opts.Backend.DeleteAttachment(ctx, item, replaces); err != nil && !graph.IsNotFound(err) {
				n.fs.log.Error("could not delete the attachment a file was renamed over; delete it by hand", "name", newName, "err", err)
			}
			n.fs.forgetAttachment(item, replaces)
		} else if err != nil {
			n.writeMu.Unlock()
			return toErrno(err)
		}
	}
	if err := sp.Rename(ctx, id, item, newName, isScratch(newName)); err != nil {
		n.writeMu.Unlock()
		n.fs.log.Error("could not rename a local file", "name", n.name, "to", newName, "err", err)
		return toErrno(err)
	}
	oldItem := n.item
	n.mu.Lock()
	n.name, n.item = newName, item
	n.mu.Unlock()
	// A closed scratch file renamed to an ordinary name is what attaches it (rsync, LibreOffice).
	wait := wasScratch && !isScratch(newName) && !open && !n.fs.opts.Async
	if wait {
		n.await(id)
	}
	n.writeMu.Unlock()
	n.fs.itemListing(oldItem.ID).invalidate()
	n.fs.itemListing(item.ID).invalidate()
	if wait {
		return n.waitUpload(ctx, id)
	}
	return 0
}

// unlink removes the file (the caller checked it may): the attachment it shows, and the one a
// pending version of it replaces, are deleted, and that version is dropped. Descriptors still
// open on it keep reading and writing the version being written, if there is one (POSIX: an
// unlinked file lives on for its open descriptors); it is never attached, and its bytes go when
// the last descriptor is closed. Without such a version, they read the attachment's bytes from
// the content cache while it has them, and writes fail with ENOENT.
func (n *fileNode) unlink(ctx context.Context) syscall.Errno {
	n.writeMu.Lock() // no write starts a new version meanwhile
	defer n.writeMu.Unlock()
	sp := n.fs.opts.Spool
	n.mu.Lock()
	item, name, spoolID, wasGone, open := n.item, n.name, n.spoolID, n.gone, n.handles > 0
	var atts []string // what the name stands for on the server
	if n.att != nil {
		atts = append(atts, n.att.ID)
	}
	n.gone = true
	n.mu.Unlock()
	if spoolID != "" {
		if m, ok := sp.Get(spoolID); ok {
			atts = append(atts, m.Replaces, m.AttachmentID) // (attached in the background meanwhile)
		}
	}
	deleted := map[string]bool{"": true}
	del := func(id string) error {
		if deleted[id] {
			return nil
		}
		if err := n.fs.opts.Backend.DeleteAttachment(ctx, item, id); err != nil && !graph.IsNotFound(err) {
			return err
		}
		deleted[id] = true
		// A descriptor still open on the file reads on from the content cache, if it has the bytes.
		n.fs.unlistAttachment(item, id)
		if !open {
			n.fs.forgetContent(id)
		}
		return nil
	}
	for _, id := range atts {
		if err := del(id); err != nil {
			n.fs.log.Error("could not delete an attachment", "name", name, "item", item.String(), "err", err)
			if !wasGone && len(deleted) == 1 {
				n.mu.Lock()
				n.gone = false // nothing deleted: still there
				n.mu.Unlock()
			}
			return toErrno(err)
		}
	}
	if spoolID != "" {
		m, err := sp.Unlink(ctx, spoolID)
		if err != nil && !errors.Is(err, spool.ErrNotFound) {
			n.fs.log.Error("could not cancel a local file", "name", name, "err", err)
			return toErrno(err)
		}
		// Its upload may have ended between the look above and the unlink.
		if err := del(m.AttachmentID); err != nil {
			n.fs.log.Error("could not delete the attachment a removed file had just become; delete it by hand", "name", name, "err", err)
		}
	}
	n.fs.itemListing(item.ID).invalidate()
	return 0
}
