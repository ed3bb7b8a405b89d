package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// ErrLoginRequired: there is no usable sign-in for the profile (never signed
// in, signed out, or the refresh token expired or was revoked). The error
// that wraps it says which command to run.
var ErrLoginRequired = errors.New("sign-in required")

// loginRequiredError is the one error a user sees when the sign-in is gone.
type loginRequiredError struct {
	profile string
	never   bool // no account at all, rather than an expired one
}

func (e *loginRequiredError) Error() string {
	cmd := "outlookfs login"
	if e.profile != DefaultProfile {
		cmd += " --profile " + e.profile
	}
	if e.never {
		return fmt.Sprintf("not signed in for profile %s: run `%s`", e.profile, cmd)
	}
	return fmt.Sprintf("sign-in expired for profile %s: run `%s`", e.profile, cmd)
}

func (e *loginRequiredError) Unwrap() error { return ErrLoginRequired }

// SignInError is the identity provider's refusal, without MSAL's raw text
// (which can quote the whole token response, refresh token included).
type SignInError struct {
	Op          string // what was being done, e.g. "device code sign-in"
	Status      int    // HTTP status, 0 if none
	Code        string // OAuth error, e.g. invalid_client
	Description string // the provider's description, first line only (AADSTS code and sentence)
}

func (e *SignInError) Error() string {
	s := "auth: " + e.Op + ": "
	if e.Status != 0 {
		s += fmt.Sprintf("the identity provider answered %d", e.Status)
	} else {
		s += "failed"
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// OAuth errors after which only a new interactive sign-in helps.
func needsLogin(code string) bool {
	switch code {
	case "invalid_grant", "interaction_required", "login_required", "consent_required":
		return true
	}
	return false
}

// translate turns an error out of MSAL into one safe to log and show:
// ErrLoginRequired (wrapped) when the sign-in is gone, the context's error when
// it ended, a *SignInError when the provider refused, a network error with the
// URL's host and path only, or a generic sentence. MSAL's text is never kept.
func translate(ctx context.Context, op, profile string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrLoginRequired) {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("auth: %s: %w", op, ctx.Err())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("auth: %s: %w", op, context.DeadlineExceeded)
	}
	var call msalerrors.CallErr
	if errors.As(err, &call) && call.Resp != nil {
		se := &SignInError{Op: op, Status: call.Resp.StatusCode}
		se.Code, se.Description = oauthError(call)
		if needsLogin(se.Code) {
			return &loginRequiredError{profile: profile}
		}
		return se
	}
	var invalidJSON msalerrors.InvalidJsonErr
	if errors.As(err, &invalidJSON) {
		return &SignInError{Op: op, Description: "the identity provider's answer was not understood"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		where := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			where = u.Scheme + "://" + u.Host + u.Path
		}
		return fmt.Errorf("auth: %s: cannot reach %s: %w", op, where, ue.Err)
	}
	msg := err.Error()
	switch {
	case msg == "no token found", strings.Contains(msg, "no account was specified"):
		return &loginRequiredError{profile: profile}
	}
	// Other MSAL errors are about configuration (authority, discovery) and carry no
	// token; keep the first line only.
	return &SignInError{Op: op, Description: firstSentence(msg)}
}

// oauthError reads the OAuth error and its description from an error answer:
// from the response body, or, when MSAL already consumed it (device code
// polling does), from the JSON MSAL quoted after the status in its message.
// Nothing else of the body or the message is kept.
func oauthError(call msalerrors.CallErr) (code, desc string) {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if call.Resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(call.Resp.Body, 64<<10))
		if json.Unmarshal(b, &body) == nil && body.Error != "" {
			return body.Error, firstSentence(body.Description)
		}
	}
	if call.Err != nil {
		msg := call.Err.Error()
		if i := strings.Index(msg, "reply status code was "); i >= 0 {
			if j := strings.IndexByte(msg[i:], '{'); j >= 0 {
				if json.Unmarshal([]byte(msg[i+j:]), &body) == nil {
					return body.Error, firstSentence(body.Description)
				}
			}
		}
	}
	return "", ""
}

// firstSentence keeps the first line of a provider's description, without the
// trace and correlation ids the identity platform appends.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	for _, cut := range []string{" Trace ID:", " Trace ID :"} {
		if i := strings.Index(s, cut); i >= 0 {
			s = s[:i]
		}
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return strings.TrimSpace(s)
}
