package graphtest

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// idpAuthCode is an authorization code waiting to be redeemed.
type idpAuthCode struct {
	clientID    string
	redirectURI string
	challenge   string // S256 code challenge
	scope       string
	user        string
	expires     time.Time
}

const idpAuthCodeLifetime = 10 * time.Minute

// serveAuthorize is the sign-in page. The emulator has no password: the user
// (the login_hint, else the IdP's user) is signed in at once and sent back to the
// redirect URI with a code - by an auto-submitting form for response_mode=form_post
// (what MSAL's interactive flow asks for), else by a redirect with the code in
// the query.
func (p *IdP) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	// Errors about the client or the redirect URI are shown, never redirected to.
	if clientID != p.opts.ClientID {
		idpAuthorizePage(w, http.StatusBadRequest, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", clientID))
		return
	}
	if !idpLoopbackRedirect(redirectURI) {
		idpAuthorizePage(w, http.StatusBadRequest, fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application.", redirectURI))
		return
	}
	state, mode := q.Get("state"), q.Get("response_mode")
	reply := func(v url.Values) {
		if state != "" {
			v.Set("state", state)
		}
		if mode == "form_post" {
			idpFormPost(w, redirectURI, v)
			return
		}
		u, _ := url.Parse(redirectURI)
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(code, desc string) {
		reply(url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "AADSTS700054: response_type must be 'code'.")
		return
	case strings.TrimSpace(q.Get("scope")) == "":
		fail("invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		// Public clients must use PKCE; MSAL always sends S256.
		fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
		return
	}
	user := strings.TrimSpace(q.Get("login_hint"))
	if user == "" {
		user = p.opts.User
	}
	code := idpRandomString(48)
	p.mu.Lock()
	p.codes[code] = &idpAuthCode{
		clientID:    clientID,
		redirectURI: redirectURI,
		challenge:   q.Get("code_challenge"),
		scope:       q.Get("scope"),
		user:        user,
		expires:     p.opts.Now().Add(idpAuthCodeLifetime),
	}
	p.mu.Unlock()
	reply(url.Values{"code": {code}})
}

// idpLoopbackRedirect accepts what a public client registers for MSAL's
// interactive flow: http://localhost or a loopback address, any port (the
// identity platform ignores the port of loopback redirect URIs).
func idpLoopbackRedirect(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func idpAuthorizePage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><p>Sorry, but we are having trouble signing you in.</p><p>%s</p></body></html>\n",
		html.EscapeString(msg))
}

// idpFormPost writes the identity platform's form_post page: a form a browser's
// script submits at once to the redirect URI.
func idpFormPost(w http.ResponseWriter, action string, v url.Values) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	var b strings.Builder
	fmt.Fprintf(&b, "<html><head><title>Working...</title></head><body onload=\"javascript:document.forms[0].submit()\">"+
		"<form method=\"POST\" name=\"hiddenform\" action=\"%s\">", html.EscapeString(action))
	for k, vs := range v {
		for _, s := range vs {
			fmt.Fprintf(&b, "<input type=\"hidden\" name=\"%s\" value=\"%s\" />", html.EscapeString(k), html.EscapeString(s))
		}
	}
	b.WriteString("<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form></body></html>")
	_, _ = io.WriteString(w, b.String())
}

// redeemCode checks an authorization code, its redirect URI and its PKCE verifier.
func (p *IdP) redeemCode(code, clientID, redirectURI, verifier string) (user, scope string, _ *idpOAuthError) {
	p.mu.Lock()
	c := p.codes[code]
	delete(p.codes, code) // single use, whatever happens
	p.mu.Unlock()
	switch {
	case c == nil || c.clientID != clientID:
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 70000, "The provided authorization code or refresh token has expired, was revoked or is malformed.")
	case p.opts.Now().After(c.expires):
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
	case c.redirectURI != redirectURI:
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 50148, "The redirect_uri does not match the one used in the authorization request.")
	case verifier == "":
		return "", "", idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code_verifier'.")
	}
	sum := sha256.Sum256([]byte(verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		return "", "", idpErr(http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	return c.user, c.scope, nil
}

var (
	idpFormRe  = regexp.MustCompile(`(?is)<form[^>]*\baction="([^"]*)"`)
	idpInputRe = regexp.MustCompile(`(?is)<input[^>]*\btype="hidden"[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"`)
)

// Browser returns a function for MSAL's public.WithOpenURL that plays a
// person's browser: it opens the authorize URL with client (which must trust
// the emulator's CA), where the IdP signs the user in at once, and submits the
// page's form_post form to the redirect URI as the page's script would.
func Browser(client *http.Client) func(authorizeURL string) error {
	return func(authorizeURL string) error {
		resp, err := client.Get(authorizeURL)
		if err != nil {
			return fmt.Errorf("browser: open the sign-in page: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("browser: read the sign-in page: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("browser: sign-in page: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		m := idpFormRe.FindSubmatch(body)
		if m == nil {
			return errors.New("browser: the sign-in page has no form to submit")
		}
		form := url.Values{}
		for _, in := range idpInputRe.FindAllSubmatch(body, -1) {
			form.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
		}
		post, err := client.PostForm(html.UnescapeString(string(m[1])), form)
		if err != nil {
			return fmt.Errorf("browser: submit to the redirect URI: %w", err)
		}
		_, _ = io.Copy(io.Discard, post.Body)
		post.Body.Close()
		if post.StatusCode != http.StatusOK {
			return fmt.Errorf("browser: the redirect URI answered %s", post.Status)
		}
		return nil
	}
}
