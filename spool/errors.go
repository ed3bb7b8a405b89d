package spool

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// errnoError is a sentinel error that also matches its errno with errors.Is,
// so callers can write errors.Is(err, syscall.ENOSPC) as well as errors.Is(err, ErrNoSpace).
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string        { return e.msg }
func (e *errnoError) Is(target error) bool { return target == e.errno }

// Errors of the writer API.
var (
	// ErrNoSpace: the spool's size limit or the disk is full (ENOSPC).
	ErrNoSpace error = &errnoError{"spool: no space left (spool size limit or disk full)", syscall.ENOSPC}
	// ErrFileTooBig: the write or truncate would make the file larger than MaxFileSize (EFBIG).
	ErrFileTooBig error = &errnoError{"spool: file too large for an attachment", syscall.EFBIG}
	// ErrCommitted: the file was committed; its bytes can no longer change (EBADF).
	ErrCommitted error = &errnoError{"spool: file already committed", syscall.EBADF}
	// ErrNotFound: no such file in the spool, or it was removed (ENOENT).
	ErrNotFound error = &errnoError{"spool: no such file", syscall.ENOENT}
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool: closed")
)

// UploadError is what Wait returns for a file that failed.
type UploadError struct {
	Kind   FailKind
	Reason string // a sentence a person can act on
	Err    error  // the graph error, when known
}

func (e *UploadError) Error() string { return "upload failed: " + e.Reason }
func (e *UploadError) Unwrap() error { return e.Err }

// noSpace turns a storage error caused by a full disk into ErrNoSpace
// (keeping the cause), and returns other errors unchanged.
func noSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	// Badger wraps most errors with %+v, which loses the chain: match the text too.
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}
