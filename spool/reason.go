package spool

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// maxLocalRetries: a problem of our own (reading the spool) fails the upload
// after this many attempts in a row.
const maxLocalRetries = 3

// classify says what a failed upload attempt means: a FailKind and a reason a
// person can act on, and whether the failure is permanent (else: retry later).
func classify(err error, size int64) (FailKind, string, bool) {
	var ge *graph.Error
	isGraph := errors.As(err, &ge)
	switch {
	case errors.Is(err, errGaveUp):
		return FailOther, "the upload session was lost again and again part way through (" + err.Error() +
			"); check the network and copy the file again", true
	case errors.Is(err, graph.ErrTooLarge):
		return FailTooLarge, fmt.Sprintf("the file (%s) is larger than this cloud accepts as an attachment "+
			"(150 MB, or under 3 MiB where upload sessions do not exist); send a link to the file instead", human(size)), true
	case graph.IsQuotaExceeded(err):
		return FailQuota, "the mailbox is full (its quota is exceeded); delete some mail or ask your " +
			"administrator for more space, then copy the file again", true
	case graph.IsTooLarge(err) && !(isGraph && ge.Code == graph.CodeMessageSizeExceeded) && size < graph.MinUploadSessionSize:
		// 413 or "Maximum request length exceeded" on the one POST of a file under 3 MiB: the
		// request, not the message, is over a limit; no other way to attach such a file exists.
		return FailTooLarge, fmt.Sprintf("Microsoft Graph refused the request carrying the file (%s) as too large: "+
			"a file under 3 MiB is sent in one request, and this one is over Graph's request size limit (about 4 MB "+
			"once encoded); compress the file or send a link to it instead", human(size)), true
	case graph.IsTooLarge(err):
		return FailTooLarge, fmt.Sprintf("the attachment (%s) would make the message larger than the mailbox's message size "+
			"limit (35 MB by default); ask your administrator to raise it (up to 150 MB) or send a link to the file instead", human(size)), true
	case graph.IsForbidden(err) && size >= graph.MinUploadSessionSize:
		return FailForbidden, "the mailbox refused the upload (403 access denied): Graph does not let delegated " +
			"access to a shared or another person's mailbox upload files of 3 MiB or more; ask for full access, " +
			"sign in as the mailbox itself, or send a smaller file or a link", true
	case graph.IsForbidden(err):
		return FailForbidden, "the mailbox refused the attachment (403 access denied); ask the mailbox's owner " +
			"for permission to change this item", true
	case graph.IsNotFound(err) && !errors.Is(err, graph.ErrUploadSessionGone):
		return FailNotFound, "the draft or event no longer exists (it was deleted, moved or sent elsewhere); " +
			"copy the file into another item", true
	case graph.IsUnauthorized(err):
		return FailOther, "Microsoft Graph refused the sign-in (401); run `outlookfs login` again", false
	case graph.IsTransient(err) || errors.Is(err, graph.ErrUploadOutcomeUnknown) || errors.Is(err, graph.ErrUploadSessionGone):
		return FailOther, "Microsoft Graph could not be reached or was busy (" + err.Error() + ")", false
	case isGraph && ge.Status >= 400 && ge.Status < 500:
		return FailOther, fmt.Sprintf("Microsoft Graph refused the attachment (%d %s%s); copy the file again, "+
			"and report it if it keeps failing", ge.Status, http.StatusText(ge.Status), codeSuffix(ge)), true
	case isRemote(err):
		return FailOther, "Microsoft Graph gave an answer outlookfs does not understand (" + err.Error() +
			"); copy the file again, and report it if it keeps failing", true
	default:
		return FailOther, "the spool could not read the file's bytes (" + err.Error() +
			"); check the disk holding the spool and copy the file again", false
	}
}

func codeSuffix(e *graph.Error) string {
	s := ""
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// isRemote: the error came from Graph or the network, not from the spool.
func isRemote(err error) bool {
	var ge *graph.Error
	var ne *graph.NetError
	return errors.As(err, &ge) || errors.As(err, &ne) || errors.Is(err, graph.ErrTooLarge) ||
		errors.Is(err, graph.ErrUploadOutcomeUnknown) || errors.Is(err, graph.ErrUploadSessionGone)
}

// refused says the server answered a request without carrying it out: throttled (429),
// unavailable (503) or rejected (4xx). A POST refused so created no attachment.
func refused(err error) bool {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return false
	}
	return ge.Status == http.StatusServiceUnavailable || (ge.Status >= 400 && ge.Status < 500)
}

// ambiguous: the request may have been carried out although it failed.
func ambiguous(err error) bool {
	return errors.Is(err, graph.ErrUploadOutcomeUnknown) || graph.IsTransient(err)
}

// human formats a byte count for people (MB = 10^6 bytes, as Outlook's limits are stated).
func human(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// retryAfter is how long the server asked us to wait (its Retry-After), 0 if it did not say.
func retryAfter(err error) time.Duration {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge.RetryAfter
	}
	return 0
}
