package graph

import (
	"errors"
	"net/http"
	"testing"
)

func TestPredicates(t *testing.T) {
	tests := []struct {
		name string
		err  error
		pred func(error) bool
		want bool
	}{
		{"413", &Error{Status: http.StatusRequestEntityTooLarge}, IsTooLarge, true},
		{"message size", &Error{Status: 400, Code: CodeMessageSizeExceeded}, IsTooLarge, true},
		{"IIS request length", &Error{Status: 400, Code: "BadRequest", Message: "Maximum request length exceeded."}, IsTooLarge, true},
		{"other 400", &Error{Status: 400, Code: "BadRequest", Message: "Invalid id"}, IsTooLarge, false},
		{"ErrTooLarge", ErrTooLarge, IsTooLarge, true},
		{"404", &Error{Status: 404}, IsNotFound, true},
		{"429", &Error{Status: 429}, IsThrottled, true},
		{"503 with Retry-After", &Error{Status: 503, RetryAfter: 1}, IsThrottled, true},
		{"503", &Error{Status: 503}, IsThrottled, false},
		{"503 transient", &Error{Status: 503}, IsTransient, true},
		{"403", &Error{Status: 403}, IsForbidden, true},
		{"net", &NetError{Op: "x", Err: errors.New("reset")}, IsTransient, true},
		// A full mailbox is neither "too large" (a smaller file fails too) nor transient.
		{"quota 403", &Error{Status: 403, Code: CodeQuotaExceeded}, IsQuotaExceeded, true},
		{"quota 400", &Error{Status: 400, Code: CodeQuotaExceeded}, IsQuotaExceeded, true},
		{"quota 507", &Error{Status: 507, Code: CodeQuotaExceeded}, IsQuotaExceeded, true},
		{"quota is not too large", &Error{Status: 400, Code: CodeQuotaExceeded}, IsTooLarge, false},
		{"quota 507 not transient", &Error{Status: 507, Code: CodeQuotaExceeded}, IsTransient, false},
		{"message size is not quota", &Error{Status: 400, Code: CodeMessageSizeExceeded}, IsQuotaExceeded, false},
	}
	for _, tt := range tests {
		if got := tt.pred(tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A 401 whose refresh fails reads as the refresh's sentence alone, and both errors stay reachable.
func TestRefreshErrorText(t *testing.T) {
	loginRequired := errors.New("sign-in expired for profile p: run `outlookfs login --profile p`")
	err := error(&refreshError{refresh: loginRequired, api: &Error{Op: "list drafts", Status: 401}})
	if err.Error() != loginRequired.Error() {
		t.Errorf("text %q", err.Error())
	}
	if !errors.Is(err, loginRequired) || !IsUnauthorized(err) {
		t.Errorf("errors.Is / IsUnauthorized lost the wrapped errors")
	}
}
