package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// toErrno maps an error from graph, spool or cache to the errno a program sees.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	var upErr *spool.UploadError
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.As(err, &upErr):
		switch upErr.Kind {
		case spool.FailTooLarge:
			return syscall.EFBIG
		case spool.FailQuota:
			return syscall.EDQUOT
		case spool.FailForbidden:
			return syscall.EACCES
		case spool.FailNotFound:
			return syscall.ENOENT
		}
		return syscall.EIO
	case errors.Is(err, spool.ErrFileTooBig), errors.Is(err, graph.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, spool.ErrNoSpace):
		return syscall.ENOSPC
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case graph.IsNotFound(err):
		return syscall.ENOENT
	case graph.IsQuotaExceeded(err):
		return syscall.EDQUOT
	case graph.IsTooLarge(err):
		return syscall.EFBIG
	case graph.IsForbidden(err):
		return syscall.EACCES
	}
	return syscall.EIO
}
