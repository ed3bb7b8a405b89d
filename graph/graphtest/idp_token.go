package graphtest

import (
	"crypto/subtle"
	"crypto/x509"
	"net/http"
	"strings"
	"time"
)

// idpRefresh is an issued refresh token.
type idpRefresh struct {
	clientID string
	user     string
	expires  time.Time
	revoked  bool
}

// serveToken is the token endpoint: device_code (MSAL sends the bare word, RFC
// 8628's URN is accepted too), authorization_code with PKCE, refresh_token and
// client_credentials (secret or certificate assertion).
func (p *IdP) serveToken(w http.ResponseWriter, r *http.Request, base string) {
	if err := r.ParseForm(); err != nil {
		idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must be a form.").write(w)
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "urn:ietf:params:oauth:grant-type:device_code" {
		grant = "device_code"
	}
	clientID := f.Get("client_id")
	rec := IdPTokenRequest{Grant: grant, ClientID: clientID, Claims: f.Get("claims") != ""}
	fail := func(e *idpOAuthError) {
		rec.Error = e.code
		p.record(rec)
		e.write(w)
	}
	if clientID == "" {
		fail(idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."))
		return
	}

	var (
		user, scope string
		oerr        *idpOAuthError
	)
	switch grant {
	case "client_credentials":
		p.serveClientCredentials(w, r, &rec)
		return
	case "device_code":
		if oerr = p.publicClient(clientID); oerr == nil {
			user, scope, oerr = p.redeemDevice(f.Get("device_code"), clientID)
		}
	case "authorization_code":
		if oerr = p.publicClient(clientID); oerr == nil {
			user, scope, oerr = p.redeemCode(f.Get("code"), clientID, f.Get("redirect_uri"), f.Get("code_verifier"))
		}
	case "refresh_token":
		if oerr = p.publicClient(clientID); oerr == nil {
			user, oerr = p.redeemRefresh(f.Get("refresh_token"), clientID)
			scope = f.Get("scope")
		}
	case "":
		oerr = idpErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		oerr = idpErr(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant)
	}
	if oerr != nil {
		fail(oerr)
		return
	}
	if s := f.Get("scope"); s != "" {
		scope = s
	}
	rec.User = user
	p.record(rec)

	who := p.identity(user)
	rt := idpRandomString(64)
	p.mu.Lock()
	p.refresh[rt] = &idpRefresh{clientID: clientID, user: user, expires: p.opts.Now().Add(p.opts.RefreshTokenTTL)}
	p.mu.Unlock()
	expiresIn := int(p.opts.ExpiresIn / time.Second)
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          scope,
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   p.tokens.IssueToken(user, p.opts.TokenTTL),
		"refresh_token":  rt,
		"id_token":       p.idToken(base+"/v2.0", clientID, who),
	}
	if f.Get("client_info") == "1" {
		body["client_info"] = who.clientInfo()
	}
	idpWriteJSON(w, http.StatusOK, body)
}

// publicClient refuses client ids the IdP does not know as its public client.
func (p *IdP) publicClient(clientID string) *idpOAuthError {
	if clientID == p.opts.ClientID {
		return nil
	}
	p.mu.Lock()
	_, confidential := p.apps[clientID]
	p.mu.Unlock()
	if confidential {
		return idpErr(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	return idpErr(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory.", clientID)
}

// redeemRefresh checks a refresh token.
func (p *IdP) redeemRefresh(token, clientID string) (string, *idpOAuthError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rt := p.refresh[token]
	switch {
	case rt == nil || rt.clientID != clientID:
		return "", idpErr(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case rt.revoked:
		return "", idpErr(http.StatusBadRequest, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
	case p.opts.Now().After(rt.expires):
		return "", idpErr(http.StatusBadRequest, "invalid_grant", 700082, "The refresh token has expired due to inactivity.")
	}
	return rt.user, nil
}

// serveClientCredentials is the app-only grant: the client authenticates with its
// secret or a certificate assertion and gets the emulator's app token.
func (p *IdP) serveClientCredentials(w http.ResponseWriter, r *http.Request, rec *IdPTokenRequest) {
	f := r.PostForm
	fail := func(e *idpOAuthError) {
		rec.Error = e.code
		p.record(*rec)
		e.write(w)
	}
	clientID := rec.ClientID
	p.mu.Lock()
	app := p.apps[clientID]
	var secret string
	var certs []*x509.Certificate
	if app != nil {
		secret = app.secret
		certs = append(certs, app.certs...)
	}
	p.mu.Unlock()
	if app == nil {
		if clientID == p.opts.ClientID {
			fail(idpErr(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."))
			return
		}
		fail(idpErr(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory.", clientID))
		return
	}
	sentSecret := f.Get("client_secret")
	if sentSecret == "" {
		if u, pw, ok := r.BasicAuth(); ok && u == clientID {
			sentSecret = pw
		}
	}
	switch assertion := f.Get("client_assertion"); {
	case sentSecret != "":
		if secret == "" || subtle.ConstantTimeCompare([]byte(sentSecret), []byte(secret)) != 1 {
			fail(idpErr(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	case assertion != "":
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			fail(idpErr(http.StatusBadRequest, "invalid_request", 50027, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer."))
			return
		}
		if err := p.verifyAssertion(assertion, clientID, idpBaseURL(r)+r.URL.Path, certs); err != nil {
			fail(idpErr(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation: %s.", err))
			return
		}
	default:
		fail(idpErr(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."))
		return
	}
	// MSAL appends openid, offline_access and profile to every request; the
	// identity platform ignores them here. What remains must be one /.default.
	scope := f.Get("scope")
	var resource []string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "offline_access", "profile", "email":
		default:
			resource = append(resource, s)
		}
	}
	if len(resource) != 1 || !strings.HasSuffix(resource[0], "/.default") {
		fail(idpErr(http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	p.record(*rec)
	expiresIn := int(p.opts.ExpiresIn / time.Second)
	idpWriteJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   p.tokens.AppToken(),
	})
}
