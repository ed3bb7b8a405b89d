package fs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/graph"
)

// folderNode is drafts/ (one directory per message in the Drafts folder) or events/ (one
// directory per event occurrence in the window). Drafts can be made, renamed and deleted here;
// events cannot.
type folderNode struct {
	gofs.Inode
	fs     *FS
	events bool
}

var (
	_ gofs.NodeReaddirer = (*folderNode)(nil)
	_ gofs.NodeLookuper  = (*folderNode)(nil)
	_ gofs.NodeMkdirer   = (*folderNode)(nil)
	_ gofs.NodeRmdirer   = (*folderNode)(nil)
	_ gofs.NodeRenamer   = (*folderNode)(nil)
	_ gofs.NodeGetattrer = (*folderNode)(nil)
	_ gofs.NodeCreater   = (*folderNode)(nil)
	_ gofs.NodeUnlinker  = (*folderNode)(nil)
)

// itemEntry is one item directory as listed.
type itemEntry struct {
	name     string
	ref      graph.ItemRef
	writable bool
	mtime    time.Time
}

// draftNames maps drafts to unique, stable directory names.
func draftNames(drafts []graph.Draft) []itemEntry {
	n := make([]named, len(drafts))
	for i, d := range drafts {
		n[i] = named{Name: SafeName(d.Subject, "(no subject)"), Key: d.ID, Order: d.Created.UTC().Format(time.RFC3339Nano)}
	}
	names := uniqueNames(n, nil)
	out := make([]itemEntry, len(drafts))
	for i, d := range drafts {
		out[i] = itemEntry{name: names[i], ref: graph.ItemRef{Kind: graph.KindMessage, ID: d.ID}, writable: true, mtime: d.LastModified}
	}
	return out
}

// eventNames maps events to "2026-11-24 10.00 Subject" in the mount's time zone.
func eventNames(events []graph.Event, loc *time.Location) []itemEntry {
	n := make([]named, len(events))
	for i, e := range events {
		prefix := e.Start.In(loc).Format("2006-01-02 15.04")
		n[i] = named{Name: SafeName(prefix+" "+SafeName(e.Subject, "(no subject)"), prefix), Key: e.ID, Order: e.Start.UTC().Format(time.RFC3339Nano)}
	}
	names := uniqueNames(n, nil)
	out := make([]itemEntry, len(events))
	for i, e := range events {
		out[i] = itemEntry{name: names[i], ref: graph.ItemRef{Kind: graph.KindEvent, ID: e.ID}, writable: e.IsOrganizer, mtime: e.LastModified}
	}
	return out
}

func entryName(e itemEntry) string { return e.name }

// entries lists the folder's items with their directory names.
func (d *folderNode) entries(ctx context.Context) ([]itemEntry, map[string]int, syscall.Errno) {
	if d.events {
		events, v, err := d.fs.listEvents(ctx)
		if err != nil {
			d.fs.log.Error("cannot list events", "err", err)
			return nil, nil, toErrno(err)
		}
		entries, idx := d.fs.eventMemo.get(v, func() []itemEntry { return eventNames(events, d.fs.opts.Location) }, entryName)
		return entries, idx, 0
	}
	drafts, v, err := d.fs.listDrafts(ctx)
	if err != nil {
		d.fs.log.Error("cannot list drafts", "err", err)
		return nil, nil, toErrno(err)
	}
	entries, idx := d.fs.draftMemo.get(v, func() []itemEntry { return draftNames(drafts) }, entryName)
	return entries, idx, 0
}

func itemDirStream(entries []itemEntry) gofs.DirStream {
	list := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		list = append(list, fuse.DirEntry{Name: e.name, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(list)
}

// absent is 0 when name is free in the folder, EEXIST when it is taken.
func (d *folderNode) absent(ctx context.Context, name string) syscall.Errno {
	switch _, errno := d.item(ctx, name); errno {
	case 0:
		return syscall.EEXIST
	case syscall.ENOENT:
		return 0
	default:
		return errno
	}
}

// item finds one name in the folder: ENOENT when it is not there.
func (d *folderNode) item(ctx context.Context, name string) (itemEntry, syscall.Errno) {
	entries, idx, errno := d.entries(ctx)
	if errno != 0 {
		return itemEntry{}, errno
	}
	i, ok := idx[name]
	if !ok {
		return itemEntry{}, syscall.ENOENT
	}
	return entries[i], 0
}

// lookupItem returns the child directory for an item, reusing the inode the kernel knows.
func lookupItem(ctx context.Context, parent *gofs.Inode, f *FS, e itemEntry, out *fuse.EntryOut) *gofs.Inode {
	if ch := parent.GetChild(e.name); ch != nil {
		if n, ok := ch.Operations().(*itemNode); ok && n.ref == e.ref {
			n.setModTime(e.mtime) // Graph's lastModifiedDateTime moves as the item changes
			n.fillEntry(out)
			return ch
		}
	}
	n := &itemNode{fs: f, ref: e.ref, writable: e.writable, mtime: e.mtime}
	n.fillEntry(out)
	return parent.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR})
}

func (d *folderNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, 0o755, d.fs.started)
	return 0
}

func (d *folderNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	entries, _, errno := d.entries(ctx)
	if errno != 0 {
		return nil, errno
	}
	return itemDirStream(entries), 0
}

func (d *folderNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(name) > maxNameBytes {
		return nil, syscall.ENAMETOOLONG
	}
	e, errno := d.item(ctx, name)
	if errno != 0 {
		return nil, errno
	}
	return lookupItem(ctx, d.EmbeddedInode(), d.fs, e, out), 0
}

// Mkdir creates a draft whose subject is the directory's name. Events are made in a calendar.
func (d *folderNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.events {
		return nil, syscall.EPERM
	}
	if reason := nameProblem(name); reason != "" {
		return nil, d.fs.refuse("mkdir", name, nameErrno(name), reason)
	}
	if errno := d.absent(ctx, name); errno != 0 {
		return nil, errno
	}
	draft, err := d.fs.opts.Backend.CreateDraft(ctx, name)
	if err != nil {
		d.fs.log.Error("could not create a draft", "subject", name, "err", err)
		return nil, toErrno(err)
	}
	d.fs.drafts.update(func(ds []graph.Draft) []graph.Draft { return append(ds, draft) })
	d.fs.drafts.invalidate()
	for _, e := range draftNames([]graph.Draft{draft}) {
		e.name = name
		return lookupItem(ctx, d.EmbeddedInode(), d.fs, e, out), 0
	}
	return nil, syscall.EIO
}

// Rmdir deletes a draft that has no attachments (and no files waiting to become some).
func (d *folderNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.events {
		return syscall.EPERM
	}
	e, errno := d.item(ctx, name)
	if errno != 0 {
		return errno
	}
	atts, err := d.fs.opts.Backend.ListAttachments(ctx, e.ref)
	if err != nil {
		if !graph.IsNotFound(err) {
			d.fs.log.Error("could not delete a draft: cannot tell whether it has attachments", "draft", name, "err", err)
		}
		return toErrno(err)
	}
	if len(atts) > 0 || len(d.fs.opts.Spool.List(e.ref)) > 0 {
		return syscall.ENOTEMPTY
	}
	if err := d.fs.opts.Backend.DeleteDraft(ctx, e.ref.ID); err != nil && !graph.IsNotFound(err) {
		d.fs.log.Error("could not delete a draft", "draft", name, "err", err)
		return toErrno(err)
	}
	d.fs.drafts.update(func(ds []graph.Draft) []graph.Draft { return removeDraft(ds, e.ref.ID) })
	d.fs.drafts.invalidate()
	return 0
}

func removeDraft(ds []graph.Draft, id string) []graph.Draft {
	out := ds[:0:0]
	for _, d := range ds {
		if d.ID != id {
			out = append(out, d)
		}
	}
	return out
}

// Rename changes a draft's subject. Moving a draft anywhere else is EXDEV.
func (d *folderNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if p, ok := newParent.(*folderNode); !ok || p.events || d.events {
		if d.events {
			return syscall.EPERM // events are renamed in a calendar
		}
		return syscall.EXDEV
	}
	if flags&^uint32(renameNoReplace) != 0 {
		return d.fs.refuse("rename", name, syscall.EINVAL, fmt.Sprintf("rename flags %#x are not supported (only RENAME_NOREPLACE)", flags))
	}
	if reason := nameProblem(newName); reason != "" {
		return d.fs.refuse("rename to "+fmt.Sprintf("%q", newName), name, nameErrno(newName), reason)
	}
	e, errno := d.item(ctx, name)
	if errno != 0 {
		return errno
	}
	if name == newName {
		return 0
	}
	if errno := d.absent(ctx, newName); errno != 0 {
		return errno
	}
	if err := d.fs.opts.Backend.SetDraftSubject(ctx, e.ref.ID, newName); err != nil {
		d.fs.log.Error("could not change a draft's subject", "draft", name, "err", err)
		return toErrno(err)
	}
	d.fs.drafts.update(func(ds []graph.Draft) []graph.Draft {
		for i := range ds {
			if ds[i].ID == e.ref.ID {
				ds[i].Subject = newName
			}
		}
		return ds
	})
	d.fs.drafts.invalidate()
	return 0
}

// Files directly under drafts/ or events/ are not items.
func (d *folderNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

func (d *folderNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EISDIR }

// renameNoReplace is RENAME_NOREPLACE from renameat2(2).
const renameNoReplace = 1

func (e itemEntry) String() string { return fmt.Sprintf("%s (%s)", e.name, e.ref) }
