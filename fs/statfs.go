package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Every node answers statfs(2) alike: go-fuse answers zeros for a node without Statfs, and a file
// manager checking the free space of a draft before a copy would see a full disk.
var (
	_ gofs.NodeStatfser = (*rootNode)(nil)
	_ gofs.NodeStatfser = (*folderNode)(nil)
	_ gofs.NodeStatfser = (*itemNode)(nil)
	_ gofs.NodeStatfser = (*fileNode)(nil)
	_ gofs.NodeStatfser = (*statusDir)(nil)
	_ gofs.NodeStatfser = (*statusFile)(nil)
)

func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return r.fs.statfs(out)
}

func (d *folderNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return d.fs.statfs(out)
}

func (n *itemNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.fs.statfs(out)
}

func (n *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return n.fs.statfs(out)
}

func (d *statusDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return d.fs.statfs(out)
}

func (s *statusFile) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return s.fs.statfs(out)
}

// statfsBlock is the block size statfs reports; the sizes are counted in it.
const statfsBlock = 4096

// statfs is the answer of every node: the room the spool has left for written files (the
// smaller of its size limit and its disk) and the longest name a create accepts.
func (f *FS) statfs(out *fuse.StatfsOut) syscall.Errno {
	sp, err := f.opts.Spool.Space()
	if err != nil {
		f.log.Warn("statfs: cannot tell how much room the spool has", "err", err)
		return toErrno(err)
	}
	out.Bsize = statfsBlock
	out.Frsize = statfsBlock
	out.Blocks = uint64(sp.Total / statfsBlock)
	out.Bfree = uint64(sp.Free / statfsBlock)
	out.Bavail = out.Bfree
	// Inodes are no limit here: any count that is not zero keeps df -i and file managers calm.
	out.Files = 1 << 20
	out.Ffree = 1 << 19
	out.NameLen = maxNameBytes
	return 0
}
