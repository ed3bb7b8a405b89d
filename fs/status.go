package fs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/spool"
)

// statusDir is .outlookfs/: the mount's state as plain text files, made fresh on every open.
type statusDir struct {
	gofs.Inode
	fs *FS
}

var (
	_ gofs.NodeReaddirer = (*statusDir)(nil)
	_ gofs.NodeLookuper  = (*statusDir)(nil)
	_ gofs.NodeGetattrer = (*statusDir)(nil)
)

var statusFiles = []string{"status", "uploads", "failures"}

func (d *statusDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, 0o555, d.fs.started)
	return 0
}

func (d *statusDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	var list []fuse.DirEntry
	for _, n := range statusFiles {
		list = append(list, fuse.DirEntry{Name: n, Mode: syscall.S_IFREG})
	}
	return gofs.NewListDirStream(list), 0
}

func (d *statusDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	for _, n := range statusFiles {
		if n == name {
			if ch := d.GetChild(name); ch != nil {
				return ch, 0
			}
			f := &statusFile{fs: d.fs, which: name}
			var a fuse.AttrOut
			f.Getattr(ctx, nil, &a)
			out.Attr = a.Attr
			return d.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
		}
	}
	return nil, syscall.ENOENT
}

// statusFile is one generated file. Its size is that of the text at the time of the stat;
// reads use direct I/O so a text that grew in between is read whole.
type statusFile struct {
	gofs.Inode
	fs    *FS
	which string
}

type statusHandle struct{ text []byte }

var (
	_ gofs.NodeGetattrer = (*statusFile)(nil)
	_ gofs.NodeOpener    = (*statusFile)(nil)
	_ gofs.NodeReader    = (*statusFile)(nil)
)

func (s *statusFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = uint64(len(s.fs.statusText(s.which)))
	setTimes(&out.Attr, s.fs.opts.Now()) // made afresh at every read
	return 0
}

func (s *statusFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &statusHandle{text: []byte(s.fs.statusText(s.which))}, fuse.FOPEN_DIRECT_IO, 0
}

func (s *statusFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*statusHandle)
	if !ok {
		return nil, syscall.EBADF
	}
	if off >= int64(len(h.text)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.text[off:min(int64(len(h.text)), off+int64(len(dest)))]), 0
}

// statusText renders one of the status files.
func (f *FS) statusText(which string) string {
	var b strings.Builder
	all := f.opts.Spool.All()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	switch which {
	case "status":
		counts := map[spool.State]int{}
		abandoned := 0
		var pending int64 // bytes on disk not attached yet (scratch files wait for a rename)
		for _, m := range all {
			if m.Abandoned { // its writer died with a previous process: never uploaded
				abandoned++
				continue
			}
			counts[m.State]++
			if m.State == spool.StateWriting || m.State == spool.StateCommitted || m.State == spool.StateUploading {
				pending += m.Size - m.Confirmed
			}
		}
		mode := "synchronous (close returns once Graph has the attachment)"
		if f.opts.Async {
			mode = "asynchronous (close returns once the file is in the spool)"
		}
		fmt.Fprintf(&b, "mailbox: %s\nclose: %s\n", f.opts.Describe, mode)
		fmt.Fprintf(&b, "spool: %d writing, %d waiting, %d uploading, %d failed; %.1f MB not uploaded yet; %d abandoned (never attached)\n",
			counts[spool.StateWriting], counts[spool.StateCommitted], counts[spool.StateUploading], counts[spool.StateFailed],
			float64(pending)/1e6, abandoned)
	case "uploads":
		for _, m := range all {
			if m.Scratch || m.Abandoned || (m.State != spool.StateCommitted && m.State != spool.StateUploading && m.State != spool.StateWriting) {
				continue
			}
			pct := int64(100)
			if m.Size > 0 {
				pct = m.Confirmed * 100 / m.Size
			}
			fmt.Fprintf(&b, "%s\t%s\t%d/%d bytes\t%d%%\t%s\n", m.State, m.Item, m.Confirmed, m.Size, pct, m.Name)
		}
	case "failures":
		for _, m := range all {
			if m.State == spool.StateFailed {
				fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", m.Created.Format(time.RFC3339), m.Item, m.Name, m.Reason)
			}
		}
		f.mu.Lock()
		for _, fl := range f.failures {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", fl.When.Format(time.RFC3339), fl.Path, fl.Reason)
		}
		f.mu.Unlock()
	}
	return b.String()
}
