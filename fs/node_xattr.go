package fs

import (
	"context"
	"encoding/binary"
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

// Setxattr accepts and drops other attributes (GIO sets user.* after a copy); outlookfs's own
// are read-only: ENOTSUP, which cp -a and mv (copying an attachment's attributes along) take as
// "not kept here" and pass over quietly. An access ACL is how cp -p, cp -a and mv set the mode they preserve (they call
// no chmod when it succeeds): its permission bits become the file's mode, as on a filesystem
// without ACLs, and the rest of it is dropped.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	switch attr {
	case xattrState, xattrID:
		return syscall.ENOTSUP
	case aclAccess:
		if perm, ok := aclMode(data); ok {
			n.mu.Lock()
			mode := n.mode&^0o777 | perm
			n.mu.Unlock()
			n.setMode(mode)
		}
	}
	return 0
}

const aclAccess = "system.posix_acl_access"

// aclMode reads the permission bits from an access ACL in the kernel's xattr form (version 2,
// then 8-byte entries: tag, perm, id, little-endian): the owner's, the mask's (else the owning
// group's) and the others' entries.
func aclMode(b []byte) (uint32, bool) {
	const (
		userObj  = 0x01
		groupObj = 0x04
		mask     = 0x10
		other    = 0x20
	)
	if len(b) < 4 || (len(b)-4)%8 != 0 || binary.LittleEndian.Uint32(b) != 2 {
		return 0, false
	}
	perms := map[uint16]uint32{}
	for e := b[4:]; len(e) >= 8; e = e[8:] {
		perms[binary.LittleEndian.Uint16(e)] = uint32(binary.LittleEndian.Uint16(e[2:]) & 7)
	}
	u, uok := perms[userObj]
	g, gok := perms[groupObj]
	o, ook := perms[other]
	if m, ok := perms[mask]; ok {
		g, gok = m, true
	}
	if !uok || !gok || !ook {
		return 0, false
	}
	return u<<6 | g<<3 | o, true
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if attr == xattrState || attr == xattrID {
		return syscall.ENOTSUP
	}
	return 0
}
