package fs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// TestToErrno: what each error from graph or spool becomes for the program, for every operation
// (mkdir, rmdir, rename and unlink get graph errors directly, close and write spool errors).
func TestToErrno(t *testing.T) {
	gerr := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &graph.Error{Op: "x", Status: status, Code: code})
	}
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"nil", nil, 0},
		{"quota, as a 403", gerr(403, graph.CodeQuotaExceeded), syscall.EDQUOT},
		{"quota, as a 507", gerr(507, graph.CodeQuotaExceeded), syscall.EDQUOT},
		{"quota, as a 400", gerr(400, graph.CodeQuotaExceeded), syscall.EDQUOT},
		{"message size", gerr(400, graph.CodeMessageSizeExceeded), syscall.EFBIG},
		{"413", gerr(413, ""), syscall.EFBIG},
		{"access denied", gerr(403, graph.CodeAccessDenied), syscall.EACCES},
		{"item gone", gerr(404, graph.CodeItemNotFound), syscall.ENOENT},
		{"throttled", gerr(429, graph.CodeThrottled), syscall.EIO},
		{"unavailable", gerr(503, ""), syscall.EIO},
		{"network", &graph.NetError{Op: "x", Err: errors.New("reset")}, syscall.EIO},
		{"ErrTooLarge", graph.ErrTooLarge, syscall.EFBIG},
		{"spool full", spool.ErrNoSpace, syscall.ENOSPC},
		{"spool file too big", spool.ErrFileTooBig, syscall.EFBIG},
		{"cancelled", context.Canceled, syscall.EINTR},
		{"upload quota", &spool.UploadError{Kind: spool.FailQuota}, syscall.EDQUOT},
		{"upload too large", &spool.UploadError{Kind: spool.FailTooLarge}, syscall.EFBIG},
		{"upload forbidden", &spool.UploadError{Kind: spool.FailForbidden}, syscall.EACCES},
		{"upload not found", &spool.UploadError{Kind: spool.FailNotFound}, syscall.ENOENT},
		{"upload other", &spool.UploadError{Kind: spool.FailOther}, syscall.EIO},
	} {
		if got := toErrno(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
