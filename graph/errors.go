package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is an error answer from Graph or the upload host.
// It never carries a token or an upload URL's query.
type Error struct {
	Op         string // what the client was doing, e.g. "create upload session"
	Method     string
	Path       string // request path without query or secrets
	Status     int
	Code       string // Graph error code, e.g. ErrorMessageSizeExceeded
	Message    string
	RequestID  string
	RetryAfter time.Duration // from Retry-After, when the server sent one
}

func (e *Error) Error() string {
	s := fmt.Sprintf("graph: %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// Graph error codes the client and the emulator both use.
const (
	CodeItemNotFound        = "ErrorItemNotFound"
	CodeAccessDenied        = "ErrorAccessDenied"
	CodeMessageSizeExceeded = "ErrorMessageSizeExceeded"
	CodeQuotaExceeded       = "ErrorQuotaExceeded"
	CodeTooSmall            = "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
	CodeThrottled           = "ApplicationThrottled"
	// CodeRequestTooLarge marks an empty 500 to a large request body (Graph's answer to a body over
	// its size limit, seen): the client sets it, Graph does not send it.
	CodeRequestTooLarge = "outlookfs.RequestTooLarge"
	CodeInvalidRange    = "invalidRange"
	CodeInvalidRequest  = "invalidRequest"
	CodeUploadNotFound  = "itemNotFound"
)

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound: the item, attachment or upload session does not exist (any more).
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusNotFound
}

// IsThrottled: Graph asked us to slow down (429, or 503 with Retry-After).
func IsThrottled(err error) bool {
	e, ok := asError(err)
	return ok && (e.Status == http.StatusTooManyRequests || (e.Status == http.StatusServiceUnavailable && e.RetryAfter > 0))
}

// IsTooLarge: the attachment or request is over a size limit
// (413, ErrorMessageSizeExceeded, "Maximum request length exceeded").
func IsTooLarge(err error) bool {
	e, ok := asError(err)
	if !ok {
		return errors.Is(err, ErrTooLarge)
	}
	return e.Status == http.StatusRequestEntityTooLarge || e.Code == CodeMessageSizeExceeded ||
		e.Code == CodeTooSmall || e.Code == CodeRequestTooLarge ||
		// Answers seen to a body over the limit: 400 BadRequest "Maximum request length
		// exceeded." (IIS) and 400 "The maximum request length supported is 4MB."
		(e.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "maximum request length"))
}

// IsQuotaExceeded: the mailbox is full (ErrorQuotaExceeded, whatever the status: Graph does not
// document it). Not IsTooLarge: a smaller file fails too, until mail is deleted.
func IsQuotaExceeded(err error) bool {
	e, ok := asError(err)
	return ok && e.Code == CodeQuotaExceeded
}

// IsUnauthorized: the token was refused even after a refresh. Not a 401 from an
// upload session's URL (its own authtoken expired): that is ErrUploadSessionGone.
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusUnauthorized && !errors.Is(err, ErrUploadSessionGone)
}

// IsForbidden: the mailbox or item does not allow this (403).
func IsForbidden(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusForbidden
}

// IsTransient: trying again later may succeed (throttling, 5xx, network errors).
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if e, ok := asError(err); ok {
		// A full mailbox (even under a 5xx such as 507) stays full until someone deletes mail.
		// Nor does a body over the request size limit get smaller (an empty 500, see apiError).
		return (e.Status == http.StatusTooManyRequests || e.Status >= 500) && e.Code != CodeQuotaExceeded &&
			e.Code != CodeRequestTooLarge
	}
	var ne *NetError
	return errors.As(err, &ne)
}

// ErrTooLarge is returned before any request when an attachment is over what the
// cloud allows (150 MB, or under 3 MiB where upload sessions do not exist).
var ErrTooLarge = errors.New("graph: attachment too large")

// ErrUploadOutcomeUnknown: the final range of an upload session was sent but its
// answer was lost, and the session no longer exists (it completes on the final
// range), so whether the attachment was created is unknown. The caller lists the
// item's attachments before uploading again, so that nothing is attached twice.
// A 201 without a readable Location (the attachment exists, its id is unknown)
// is reported the same way.
var ErrUploadOutcomeUnknown = errors.New("graph: upload outcome unknown: the final range was sent but its answer was lost")

// ErrUploadSessionGone: the upload session expired, was cancelled or completed
// (the upload host answered 404). Errors carrying it also wrap the *Error, so
// IsNotFound holds too. Start again with a new session.
var ErrUploadSessionGone = errors.New("graph: upload session expired or cancelled")

// ErrUploadStatusUnknown: the upload host would not say where a session stands.
// Outlook documents no status GET on an upload URL (only OneDrive does): it may answer
// 405, 400 or an unreadable body. The session may still be alive; a PUT of the range the
// caller was sending tells (a 416 or the next answer says where it stands).
var ErrUploadStatusUnknown = errors.New("graph: the upload host did not say where the session stands")

// NetError is a transport failure (connection refused or cut, timeout).
// Its text never includes a URL's query.
type NetError struct {
	Op     string
	Method string
	Path   string
	Err    error
}

func (e *NetError) Error() string {
	return fmt.Sprintf("graph: %s: %s %s: %v", e.Op, e.Method, e.Path, e.Err)
}
func (e *NetError) Unwrap() error { return e.Err }

// refreshError is a 401 whose token refresh failed too. Its text is the refresh's alone (for
// example "sign-in expired …: run outlookfs login"): one sentence a person can act on, not a
// stack of HTTP errors. Both stay reachable through errors.Is/As.
type refreshError struct {
	refresh error
	api     *Error
}

func (e *refreshError) Error() string   { return e.refresh.Error() }
func (e *refreshError) Unwrap() []error { return []error{e.refresh, e.api} }
