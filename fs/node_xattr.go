package fs

import (
	"context"
	"fmt"
	"syscall"

	"github.com/outlookfs/outlookfs/spool"
)

const (
	xattrState = "user.outlookfs.state"
	xattrID    = "user.outlookfs.id"
)

// state is the text of user.outlookfs.state: spooled, uploading 41%, attached, failed: <reason>.
func (n *fileNode) state() string {
	n.settle()
	n.mu.Lock()
	active, id, att := n.active, n.spoolID, n.att
	n.mu.Unlock()
	if active != nil {
		return "spooled"
	}
	if id != "" {
		m, ok := n.fs.opts.Spool.Get(id)
		if !ok {
			return "spooled"
		}
		switch m.State {
		case spool.StateUploading:
			pct := int64(0)
			if m.Size > 0 {
				pct = m.Confirmed * 100 / m.Size
			}
			return fmt.Sprintf("uploading %d%%", pct)
		case spool.StateFailed:
			return "failed: " + m.Reason
		case spool.StateAttached:
			return "attached"
		}
		if m.Abandoned {
			return "abandoned: its writer never closed it before outlookfs stopped, so it will not be attached"
		}
		return "spooled"
	}
	if att != nil {
		return "attached"
	}
	return "spooled"
}

func (n *fileNode) xattr(name string) (string, bool) {
	switch name {
	case xattrState:
		return n.state(), true
	case xattrID:
		n.settle()
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.att != nil && n.spoolID == "" && n.active == nil {
			return n.att.ID, true
		}
	}
	return "", false
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, ok := n.xattr(attr)
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names := xattrState + "\x00"
	if _, ok := n.xattr(xattrID); ok {
		names += xattrID + "\x00"
	}
	if len(dest) == 0 {
		return uint32(len(names)), 0
	}
	if len(dest) < len(names) {
		return uint32(len(names)), syscall.ERANGE
	}
	return uint32(copy(dest, names)), 0
}

// Setxattr accepts and drops other attributes (cp -p sets ACLs, GIO sets user.* after a copy);
// outlookfs's own are read-only.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if attr == xattrState || attr == xattrID {
		return syscall.EPERM
	}
	return 0
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if attr == xattrState || attr == xattrID {
		return syscall.EPERM
	}
	return 0
}
