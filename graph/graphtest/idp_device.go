package graphtest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// idpDeviceGrant is one device code waiting for (or given) approval.
type idpDeviceGrant struct {
	clientID string
	userCode string
	scope    string
	expires  time.Time
	polls    int    // authorization_pending answers so far
	user     string // set once approved
	denied   bool
	redeemed bool
}

const idpDeviceLifetime = 15 * time.Minute

// idpUserCode returns a 9-character code of capitals and digits, as the identity platform's.
func idpUserCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (p *IdP) serveDeviceCode(w http.ResponseWriter, r *http.Request, base string) {
	if err := r.ParseForm(); err != nil {
		idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must be a form.").write(w)
		return
	}
	clientID := r.PostFormValue("client_id")
	scope := r.PostFormValue("scope")
	rec := IdPTokenRequest{Grant: "devicecode", ClientID: clientID, Claims: r.PostFormValue("claims") != ""}
	fail := func(e *idpOAuthError) {
		rec.Error = e.code
		p.record(rec)
		e.write(w)
	}
	if clientID != p.opts.ClientID {
		fail(idpErr(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory.", clientID))
		return
	}
	if strings.TrimSpace(scope) == "" {
		fail(idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."))
		return
	}
	g := &idpDeviceGrant{
		clientID: clientID,
		userCode: idpUserCode(),
		scope:    scope,
		expires:  p.opts.Now().Add(idpDeviceLifetime),
	}
	deviceCode := idpRandomString(48)
	p.mu.Lock()
	p.devices[deviceCode] = g
	p.mu.Unlock()
	p.record(rec)
	verify := base + "/devicelogin"
	idpWriteJSON(w, http.StatusOK, map[string]any{
		"user_code":        g.userCode,
		"device_code":      deviceCode,
		"verification_uri": verify,
		"expires_in":       int(idpDeviceLifetime / time.Second),
		"interval":         5,
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.",
			verify, g.userCode),
	})
}

// ApproveDevice signs user in on the device code userCode ("" user: the IdP's
// default user), as a person who entered the code on the verification page.
func (p *IdP) ApproveDevice(userCode, user string) error {
	return p.decideDevice(userCode, user, false)
}

// DenyDevice declines the device code userCode (the token request then fails
// with authorization_declined).
func (p *IdP) DenyDevice(userCode string) error {
	return p.decideDevice(userCode, "", true)
}

func (p *IdP) decideDevice(userCode, user string, deny bool) error {
	if user == "" {
		user = p.opts.User
	}
	userCode = strings.ToUpper(strings.TrimSpace(strings.ReplaceAll(userCode, "-", "")))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.devices {
		if g.userCode != userCode {
			continue
		}
		if p.opts.Now().After(g.expires) {
			return errors.New("the code has expired")
		}
		if g.user != "" || g.denied {
			return errors.New("the code was already used")
		}
		if deny {
			g.denied = true
		} else {
			g.user = user
		}
		return nil
	}
	return fmt.Errorf("no device code %q is waiting", userCode)
}

// PendingDeviceCodes returns the user codes waiting for approval.
func (p *IdP) PendingDeviceCodes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var codes []string
	now := p.opts.Now()
	for _, g := range p.devices {
		if g.user == "" && !g.denied && now.Before(g.expires) {
			codes = append(codes, g.userCode)
		}
	}
	return codes
}

// ApproveDeviceHandler approves a device code: POST with user_code (and
// optionally user=UPN, or deny=1) in the query or a form. It answers 204, or
// 404 with a sentence. The emulator mounts it at /_emulator/approve-device.
func (p *IdP) ApproveDeviceHandler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST user_code=CODE [user=UPN] [deny=1]", http.StatusMethodNotAllowed)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		code := r.FormValue("user_code")
		var err error
		if r.FormValue("deny") != "" {
			err = p.DenyDevice(code)
		} else {
			err = p.ApproveDevice(code, r.FormValue("user"))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// serveDeviceLogin is the verification page a person opens: a form for the
// code and the account (any mailbox's UPN).
func (p *IdP) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	msg := ""
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := p.ApproveDevice(r.PostFormValue("user_code"), strings.TrimSpace(r.PostFormValue("user"))); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			msg = "That did not work: " + err.Error() + "."
		} else {
			msg = "You are signed in. You can close this window and return to the application."
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in (outlookfs emulator)</title></head>
<body><h1>Enter code</h1><p>%s</p>
<form method="POST"><label>Code <input name="user_code" autofocus></label>
<label>Account <input name="user" value="%s"></label>
<input type="submit" value="Sign in"></form></body></html>
`, html.EscapeString(msg), html.EscapeString(p.opts.User))
}

// redeemDevice answers a device code poll.
func (p *IdP) redeemDevice(deviceCode, clientID string) (user, scope string, _ *idpOAuthError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.devices[deviceCode]
	if g == nil || g.clientID != clientID {
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' is not valid.")
	}
	switch {
	case g.redeemed:
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 54005, "The device code was already redeemed.")
	case p.opts.Now().After(g.expires):
		return "", "", idpErr(http.StatusBadRequest, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case g.denied:
		return "", "", idpErr(http.StatusBadRequest, "authorization_declined", 70000, "The user declined to authorize the request.")
	case g.user == "" && !p.opts.ManualDeviceApproval && g.polls >= p.opts.DevicePendingPolls:
		g.user = p.opts.User
	}
	if g.user == "" {
		g.polls++
		return "", "", idpErr(http.StatusBadRequest, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	g.redeemed = true
	return g.user, g.scope, nil
}
