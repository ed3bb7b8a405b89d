package graphtest

import (
	"net/http"
	"strings"
	"time"
)

// token is an access token the emulator issued.
type token struct {
	upn     string // delegated tokens: the signed-in user (lower case)
	app     bool   // app-only token: any mailbox through /users/{upn}
	expires time.Time
	revoked bool
}

// AppToken is the app-only token: it opens every mailbox through
// /users/{upn}; /me is refused with it.
func (e *Emulator) AppToken() string { return e.appToken }

// IssueToken returns a fresh delegated token for upn, valid for ttl
// (ttl <= 0: one hour). The fake identity provider uses it.
func (e *Emulator) IssueToken(upn string, ttl time.Duration) string {
	if ttl <= 0 {
		ttl = time.Hour
	}
	tok := "eyJ0eXAiOiJKV1QifQ." + randomString(32)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[tok] = &token{upn: strings.ToLower(upn), expires: e.now().Add(ttl)}
	return tok
}

// RevokeToken makes later requests with tok fail with 401.
func (e *Emulator) RevokeToken(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tokens[tok]; t != nil {
		t.revoked = true
	}
}

// bearer checks the request's Authorization header. On failure it answers 401
// and returns nil.
func (e *Emulator) bearer(w http.ResponseWriter, r *http.Request) *token {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		unauthorized(w, r, "Access token is empty.")
		return nil
	}
	tok = strings.TrimSpace(tok)
	e.mu.Lock()
	t := e.tokens[tok]
	var copyT token
	if t != nil {
		copyT = *t
	}
	e.mu.Unlock()
	switch {
	case t == nil:
		unauthorized(w, r, "IDX14100: JWT is not well formed.")
		return nil
	case copyT.revoked:
		unauthorized(w, r, "Access token has been revoked.")
		return nil
	case !copyT.app && !e.now().Before(copyT.expires):
		unauthorized(w, r, "Lifetime validation failed, the token is expired.")
		return nil
	}
	return &copyT
}

func unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	writeError(w, r, http.StatusUnauthorized, codeInvalidToken, msg)
}

// openMailbox resolves the mailbox a Graph request addresses ("me" or a UPN)
// and checks the token may open it. On failure it answers and returns nil.
func (e *Emulator) openMailbox(w http.ResponseWriter, r *http.Request, t *token, me bool, upn string) *Mailbox {
	if me {
		if t.app {
			writeError(w, r, http.StatusBadRequest, codeBadRequest, "/me request is only valid with delegated authentication flow.")
			return nil
		}
		upn = t.upn
	}
	m := e.Mailbox(upn)
	if m == nil {
		writeError(w, r, http.StatusNotFound, codeInvalidUser, "The requested user '"+upn+"' is invalid.")
		return nil
	}
	if t.app || strings.EqualFold(t.upn, m.upn) || m.isDelegate(t.upn) {
		return m
	}
	writeError(w, r, http.StatusForbidden, codeAccessDenied, msgAccessDenied)
	return nil
}

// delegatedOnShared reports whether t is a delegated token opening a shared
// or delegated mailbox (where createUploadSession is refused).
func delegatedOnShared(t *token, m *Mailbox) bool {
	return !t.app && (m.isShared() || !strings.EqualFold(t.upn, m.upn))
}
