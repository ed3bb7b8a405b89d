package fs

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// itemNode is a draft's or an event's directory (or its inline/ subdirectory): its
// attachments, plus the local files on their way to becoming attachments.
type itemNode struct {
	gofs.Inode
	fs       *FS
	ref      graph.ItemRef
	writable bool // false for events the user does not organise
	inline   bool // this is the item's inline/ directory

	mu    sync.Mutex
	mtime time.Time // the item's lastModifiedDateTime, as last listed
}

func (n *itemNode) modTime() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mtime
}

func (n *itemNode) setModTime(t time.Time) {
	n.mu.Lock()
	n.mtime = t
	n.mu.Unlock()
}

// refreshTime takes the item's time from the current listing of its folder (Graph moves it when
// the item changes, an attachment added or removed included); inline/ has its item's.
func (n *itemNode) refreshTime(ctx context.Context) {
	name, parent := n.Parent()
	if parent == nil {
		return
	}
	switch p := parent.Operations().(type) {
	case *folderNode:
		if e, errno := p.item(ctx, name); errno == 0 && e.ref == n.ref {
			n.setModTime(e.mtime)
		}
	case *itemNode:
		p.refreshTime(ctx)
		n.setModTime(p.modTime())
	}
}

const inlineDirName = "inline"

// fileKind says what a file in an item directory stands for.
type fileKind int

const (
	kindFile      fileKind = iota // a file attachment (or a local file on its way to be one)
	kindItem                      // an attached message, event or contact: read-only MIME/iCalendar/vCard
	kindReference                 // a link to a cloud file: a read-only text file describing it
	kindInlineDir                 // the inline/ directory
)

// fileEntry is one name in an item directory.
type fileEntry struct {
	name string
	kind fileKind
	att  *graph.Attachment // the attachment on the server, if any
	meta *spool.Meta       // the local file in the spool, if any (takes precedence)
}

func (n *itemNode) fillEntry(out *fuse.EntryOut) {
	dirAttr(&out.Attr, n.perm(), n.modTime())
}

func (n *itemNode) perm() uint32 {
	if n.writable && !n.inline {
		return 0o755
	}
	return 0o555
}

// itemExtension returns the extension of an attached item's $value by its content type, or ""
// when the type says nothing (Graph lists item attachments with a null content type).
func itemExtension(contentType string) string {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "calendar"):
		return ".ics"
	case strings.Contains(ct, "vcard"):
		return ".vcf"
	case strings.Contains(ct, "rfc822"), strings.Contains(ct, "message"):
		return ".eml"
	}
	return ""
}

// sniffExtension tells an attached item's kind from the first bytes of its $value.
func sniffExtension(head []byte) string {
	h := strings.ToUpper(strings.TrimSpace(string(head)))
	switch {
	case strings.HasPrefix(h, "BEGIN:VCALENDAR"):
		return ".ics"
	case strings.HasPrefix(h, "BEGIN:VCARD"):
		return ".vcf"
	}
	return ".eml"
}

// referenceSuffix names the text file that stands for a reference attachment.
const referenceSuffix = ".link.txt"

func fileName(e fileEntry) string { return e.name }

// files lists the directory: local files first (they shadow what they replace), then the
// server's attachments with unique, safe names. Names derived from one version of the listing
// are kept while no local file is pending.
func (n *itemNode) files(ctx context.Context) ([]fileEntry, map[string]int, syscall.Errno) {
	atts, v, err := n.fs.listAttachments(ctx, n.ref)
	if err != nil {
		n.fs.log.Error("cannot list attachments", "item", n.ref.String(), "err", err)
		return nil, nil, toErrno(err)
	}
	var pending []spool.Meta
	var hide []string
	if !n.inline {
		var mine []spool.Meta // one look at the spool serves both uses below
		for _, m := range n.fs.opts.Spool.All() {
			if m.Item != n.ref {
				continue
			}
			mine = append(mine, m)
			// A failed upload stays listed with --async, where nobody else hears of it: its
			// xattr says why until it is removed. A synchronous close already reported it.
			if m.State != spool.StateAttached && (m.State != spool.StateFailed || n.fs.opts.Async) {
				pending = append(pending, m)
			}
		}
		atts, hide = n.fs.withRecentUploads(n.ref, atts, n.fs.itemListing(n.ref.ID).begunOf(v), mine)
	}
	// Learn attached items' extensions first: that may ask Graph, and no lock is held for it.
	exts := map[string]string{}
	for _, a := range atts {
		if a.Kind == graph.ItemAttachment {
			exts[a.ID] = n.fs.itemExt(ctx, n.ref, a)
		}
	}
	// The names kept for a listing version are only for that version as Graph gave it: not
	// when local files or recent uploads are added to it (hide is non-nil then, maybe empty).
	if len(pending) == 0 && hide == nil {
		key := n.ref.ID
		if n.inline {
			key += "/" + inlineDirName
		}
		entries, idx := n.fs.itemMemo(key).get(v, func() []fileEntry { return n.build(atts, nil, exts, nil) }, fileName)
		return entries, idx, 0
	}
	entries := n.build(atts, pending, exts, hide)
	return entries, make2(entries, fileName), 0
}

// build names the directory's entries.
func (n *itemNode) build(atts []graph.Attachment, pending []spool.Meta, exts map[string]string, hide []string) []fileEntry {
	var out []fileEntry
	taken := map[string]bool{}
	hidden := map[string]bool{}
	for _, id := range hide {
		hidden[id] = true
	}
	for i := range pending {
		m := pending[i]
		out = append(out, fileEntry{name: m.Name, kind: kindFile, meta: &m})
		taken[m.Name] = true
		if m.Replaces != "" {
			hidden[m.Replaces] = true
		}
	}
	var shown []graph.Attachment
	var names []named
	hasInline := false
	for _, a := range atts {
		if hidden[a.ID] {
			continue
		}
		isInline := a.IsInline && a.Kind == graph.FileAttachment
		hasInline = hasInline || isInline
		if isInline != n.inline {
			continue
		}
		var name string
		switch {
		case n.inline:
			name = SafeName(a.ContentID, SafeName(a.Name, "inline"))
		case a.Kind == graph.ItemAttachment:
			ext := exts[a.ID]
			name = SafeName(a.Name, "item")
			if !strings.EqualFold(path.Ext(name), ext) {
				name = truncateName(name, maxNameBytes-len(ext)) + ext
			}
		case a.Kind == graph.ReferenceAttachment:
			name = truncateName(SafeName(a.Name, "link"), maxNameBytes-len(referenceSuffix)) + referenceSuffix
		default:
			name = SafeName(a.Name, "attachment")
		}
		shown = append(shown, a)
		names = append(names, named{Name: name, Key: a.ID, Order: a.LastModified.UTC().Format(time.RFC3339Nano)})
	}
	if hasInline && !n.inline {
		taken[inlineDirName] = true
		out = append(out, fileEntry{name: inlineDirName, kind: kindInlineDir})
	}
	unique := uniqueNames(names, taken)
	for i := range shown {
		a := shown[i]
		kind := kindFile
		switch a.Kind {
		case graph.ItemAttachment:
			kind = kindItem
		case graph.ReferenceAttachment:
			kind = kindReference
		}
		out = append(out, fileEntry{name: unique[i], kind: kind, att: &a})
	}
	return out
}

// file finds one name in the directory: ENOENT when it is not there.
func (n *itemNode) file(ctx context.Context, name string) (fileEntry, syscall.Errno) {
	entries, idx, errno := n.files(ctx)
	if errno != 0 {
		return fileEntry{}, errno
	}
	i, ok := idx[name]
	if !ok {
		return fileEntry{}, syscall.ENOENT
	}
	return entries[i], 0
}

var (
	_ gofs.NodeGetattrer = (*itemNode)(nil)
	_ gofs.NodeSetattrer = (*itemNode)(nil)
	_ gofs.NodeReaddirer = (*itemNode)(nil)
	_ gofs.NodeLookuper  = (*itemNode)(nil)
	_ gofs.NodeCreater   = (*itemNode)(nil)
	_ gofs.NodeUnlinker  = (*itemNode)(nil)
	_ gofs.NodeRenamer   = (*itemNode)(nil)
	_ gofs.NodeMkdirer   = (*itemNode)(nil)
	_ gofs.NodeRmdirer   = (*itemNode)(nil)
	_ gofs.NodeMknoder   = (*itemNode)(nil)
	_ gofs.NodeSymlinker = (*itemNode)(nil)
	_ gofs.NodeLinker    = (*itemNode)(nil)
)

func (n *itemNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.refreshTime(ctx)
	dirAttr(&out.Attr, n.perm(), n.modTime())
	return 0
}

// Setattr accepts (and forgets) mode and time changes: touch, cp -a and rsync -a expect it.
func (n *itemNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return n.Getattr(ctx, fh, out)
}

func (n *itemNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	entries, _, errno := n.files(ctx)
	if errno != 0 {
		return nil, errno
	}
	list := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		mode := uint32(syscall.S_IFREG)
		if e.kind == kindInlineDir {
			mode = syscall.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: e.name, Mode: mode})
	}
	return gofs.NewListDirStream(list), 0
}

func (n *itemNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(name) > maxNameBytes {
		return nil, syscall.ENAMETOOLONG
	}
	e, errno := n.file(ctx, name)
	if errno != 0 {
		return nil, errno
	}
	if e.kind == kindInlineDir {
		if ch := n.GetChild(name); ch != nil {
			if in, ok := ch.Operations().(*itemNode); ok {
				in.setModTime(n.modTime())
				in.fillEntry(out)
				return ch, 0
			}
		}
		in := &itemNode{fs: n.fs, ref: n.ref, inline: true, mtime: n.modTime()}
		in.fillEntry(out)
		return n.NewInode(ctx, in, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
	}
	var node *fileNode
	if ch := n.GetChild(name); ch != nil {
		node, _ = ch.Operations().(*fileNode)
	}
	fresh := node == nil
	if fresh {
		node = &fileNode{fs: n.fs, item: n.ref, name: name, size: -1}
	}
	node.refresh(e, n.writable && !n.inline)
	var a fuse.AttrOut
	if errno := node.Getattr(ctx, nil, &a); errno != 0 {
		return nil, errno
	}
	out.Attr = a.Attr
	if !fresh {
		return node.EmbeddedInode(), 0
	}
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

// Create starts a new local file: it lives in the spool until it is closed (and, for
// scratch names, until it is renamed to an ordinary name).
func (n *itemNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := n.checkWritable(name); errno != 0 {
		return nil, nil, 0, errno
	}
	switch _, errno := n.file(ctx, name); errno {
	case 0:
		return nil, nil, 0, syscall.EEXIST
	case syscall.ENOENT:
	default:
		return nil, nil, 0, errno
	}
	f, err := n.fs.opts.Spool.Create(ctx, spool.CreateOptions{Item: n.ref, Name: name, Scratch: isScratch(name), Mode: keptMode(mode)})
	if err != nil {
		n.fs.log.Error("could not start a file in the spool", "name", name, "err", err)
		return nil, nil, 0, toErrno(err)
	}
	// The listing will change, perhaps in the background (--async): the copy kept for the
	// next mount must not stay as it is.
	n.fs.itemListing(n.ref.ID).unstore()
	node := &fileNode{fs: n.fs, item: n.ref, name: name, writableItem: true, kind: kindFile,
		spoolID: f.ID(), active: f, dirty: true, mode: keptMode(mode), mtime: n.fs.opts.Now(), size: -1}
	node.writers, node.handles = 1, 1
	var a fuse.AttrOut
	node.Getattr(ctx, nil, &a)
	out.Attr = a.Attr
	ch := n.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG})
	// The descriptor that created the file is its writer whatever its access mode: a new file
	// counts as written, and O_CREAT|O_RDONLY (pjdfstest makes its files so) must attach it on close too.
	return ch, &handle{write: true}, 0, 0
}

func (n *itemNode) checkWritable(name string) syscall.Errno {
	if n.inline || !n.writable {
		return syscall.EACCES
	}
	if reason := nameProblem(name); reason != "" {
		return n.fs.refuse("creating a file", name, nameErrno(name), reason)
	}
	if name == inlineDirName {
		return n.fs.refuse("creating a file", name, syscall.EINVAL, "\""+inlineDirName+"\" is reserved for inline attachments")
	}
	return 0
}

// Unlink deletes an attachment, or cancels a local file's upload (see fileNode.unlink).
func (n *itemNode) Unlink(ctx context.Context, name string) syscall.Errno {
	e, errno := n.file(ctx, name)
	if errno != 0 {
		return errno
	}
	if e.kind == kindInlineDir {
		return syscall.EISDIR
	}
	if !n.writable {
		return syscall.EACCES
	}
	var fn *fileNode
	if ch := n.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	if fn == nil { // the kernel forgot the node: one made from the listing does
		fn = &fileNode{fs: n.fs, item: n.ref, name: name, size: -1}
		fn.refresh(e, true)
	}
	return fn.unlink(ctx)
}

// Rename is free for local files (they are renamed in the spool, also while open) and EXDEV
// for attachments already on the server, which Graph cannot rename: mv, rsync and vim then
// copy and unlink by themselves.
func (n *itemNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	dst, ok := newParent.(*itemNode)
	if !ok || dst.inline || n.inline {
		return syscall.EXDEV
	}
	if flags&^uint32(renameNoReplace) != 0 {
		return n.fs.refuse("rename", name, syscall.EINVAL, fmt.Sprintf("rename flags %#x are not supported (only RENAME_NOREPLACE)", flags))
	}
	e, errno := n.file(ctx, name)
	if errno != 0 {
		return errno
	}
	if e.meta == nil {
		return syscall.EXDEV
	}
	if errno := dst.checkWritable(newName); errno != 0 {
		return errno
	}
	if dst == n && name == newName {
		return 0
	}
	replaces := ""
	t, errno := dst.file(ctx, newName)
	if errno != 0 && errno != syscall.ENOENT {
		return errno
	}
	if errno == 0 {
		if flags&renameNoReplace != 0 {
			return syscall.EEXIST
		}
		switch {
		case t.kind == kindInlineDir:
			return syscall.EISDIR
		case t.meta != nil:
			if err := n.fs.opts.Spool.Remove(ctx, t.meta.ID); err != nil {
				return toErrno(err)
			}
			replaces = t.meta.Replaces
		default:
			replaces = t.att.ID
		}
	}
	var node *fileNode
	if ch := n.GetChild(name); ch != nil {
		node, _ = ch.Operations().(*fileNode)
	}
	if node == nil {
		node = &fileNode{fs: n.fs, item: n.ref, name: name, size: -1}
		node.refresh(e, true)
	}
	return node.rename(ctx, dst.ref, newName, replaces)
}

func (n *itemNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Rmdir of inline/ succeeds once its attachments are gone (it is shown only while there are some).
func (n *itemNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	e, errno := n.file(ctx, name)
	switch {
	case errno == syscall.ENOENT && name == inlineDirName && !n.inline:
		return 0
	case errno != 0:
		return errno
	case e.kind != kindInlineDir:
		return syscall.ENOTDIR
	}
	return syscall.ENOTEMPTY
}

func (n *itemNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *itemNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *itemNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// withRecentUploads (given the spool's files of the item, and when the fetch of the listing atts
// began) adds the attachments the spool made in the background (--async) that the listing does
// not show yet, and returns the ids of attachments they replaced (deleted, but perhaps still in
// the listing). The listing is marked stale so the next one asks Graph. An upload is added while
// the listing served was fetched from before it was attached: a listing whose fetch began after
// the attach and lacks it means it was deleted elsewhere. It is not added once a newer version
// replaced it or once it was deleted here.
func (f *FS) withRecentUploads(item graph.ItemRef, atts []graph.Attachment, begun time.Time, spooled []spool.Meta) ([]graph.Attachment, []string) {
	known := map[string]bool{}
	for _, a := range atts {
		known[a.ID] = true
	}
	var recent []spool.Meta
	superseded := map[string]bool{}
	for _, m := range spooled {
		if m.Replaces != "" {
			superseded[m.Replaces] = true
		}
		if m.State == spool.StateAttached && m.AttachmentID != "" {
			recent = append(recent, m)
		}
	}
	l := f.itemListing(item.ID)
	var extra []graph.Attachment
	var replaced []string
	for _, m := range recent {
		if m.Replaces != "" && known[m.Replaces] {
			replaced = append(replaced, m.Replaces)
		}
		if known[m.AttachmentID] || superseded[m.AttachmentID] || f.isForgotten(m.AttachmentID) {
			continue
		}
		if !begun.IsZero() && !m.Finished.IsZero() && begun.After(m.Finished) {
			continue // fetched after the attach, and not there: deleted elsewhere
		}
		extra = append(extra, graph.Attachment{ID: m.AttachmentID, Name: m.Name, Kind: graph.FileAttachment, LastModified: f.opts.Now()})
		if f.opts.Cache != nil {
			_ = f.opts.Cache.SetSize(m.AttachmentID, m.Size)
		}
	}
	if len(extra) == 0 && len(replaced) == 0 {
		return atts, nil
	}
	l.invalidate()
	if len(replaced) == 0 {
		replaced = []string{} // non-nil: the names are not kept for this listing version
	}
	return append(atts[:len(atts):len(atts)], extra...), replaced
}

// isForgotten says whether the attachment was deleted here.
func (f *FS) isForgotten(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgotten[id]
}

// forgetAttachment drops a deleted attachment from the cached listing and the content cache.
func (f *FS) forgetAttachment(item graph.ItemRef, id string) {
	f.unlistAttachment(item, id)
	f.forgetContent(id)
}

// forgetContent drops an attachment's content from the content cache.
func (f *FS) forgetContent(id string) {
	if f.opts.Cache != nil {
		_ = f.opts.Cache.Forget(id)
	}
}

// unlistAttachment drops a deleted attachment from the cached listing.
func (f *FS) unlistAttachment(item graph.ItemRef, id string) {
	f.mu.Lock()
	f.forgotten[id] = true // never shown again as a recent upload
	f.mu.Unlock()
	l := f.itemListing(item.ID)
	l.update(func(as []graph.Attachment) []graph.Attachment {
		out := as[:0:0]
		for _, a := range as {
			if a.ID != id {
				out = append(out, a)
			}
		}
		return out
	})
	l.invalidate()
}
