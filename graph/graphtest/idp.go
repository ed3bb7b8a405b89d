package graphtest

// The fake identity provider (auth.md, "What a fake identity provider must
// serve"): enough of the Microsoft identity platform's v2.0 endpoints for MSAL
// Go to sign in through the device code, browser (authorization code + PKCE),
// refresh token and client credentials flows. It runs on the emulator's Graph
// listener under /{tenant}/, and the access tokens it hands out are the
// emulator's own (IssueToken, AppToken), so Graph accepts them.
//
// Every unexported name in the idp*.go files starts with "idp": the rest of
// the package belongs to the emulator.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenIssuer mints the access tokens the IdP hands out. *Emulator is one.
type TokenIssuer interface {
	// IssueToken returns a fresh delegated token for the mailbox upn, valid ttl.
	IssueToken(upn string, ttl time.Duration) string
	// AppToken returns the app-only token (/users/{upn} for every mailbox).
	AppToken() string
}

const (
	// DefaultTenant is the tenant path segment the IdP serves by default. It must
	// not contain "token": MSAL derives the device code URL by replacing that word.
	DefaultTenant = "outlookfs-emulator"
	// DefaultClientID is the public client (device code and browser flows) the IdP
	// knows by default: `outlookfs login --client-id` takes it against the emulator.
	DefaultClientID = "8a4e5f7c-0b1d-4c3e-9f2a-6d7b8c9e0f11"
	// DefaultUser signs in through the device code and browser flows unless an
	// approval or a login hint names someone else. It is Seed's demo mailbox.
	DefaultUser = "demo@outlookfs.test"
)

// IdPOptions are the identity provider's settings; the zero value of each is the default.
type IdPOptions struct {
	// Tenant is the path segment of the authority (https://HOST:PORT/Tenant).
	// Default DefaultTenant. "common" and "organizations" are served too.
	Tenant string
	// ClientID is the public client registered with the IdP. Default DefaultClientID.
	// Confidential clients are added with RegisterAppSecret and RegisterAppCert.
	ClientID string
	// User signs in through the device code and browser flows (an approval or a
	// login hint can name another). Default DefaultUser.
	User string
	// TokenTTL is how long an issued access token is valid at Graph. Default 1h.
	TokenTTL time.Duration
	// ExpiresIn is the lifetime announced in expires_in. Default TokenTTL. MSAL does
	// not cache a token announced for 5 minutes or less, so every silent call
	// refreshes; a TokenTTL shorter than ExpiresIn makes Graph refuse a token MSAL
	// still trusts (the 401 path).
	ExpiresIn time.Duration
	// RefreshTokenTTL is how long a refresh token works. Default 90 days.
	RefreshTokenTTL time.Duration
	// DevicePendingPolls is how many times a device code poll is answered
	// authorization_pending before the code approves itself. Default 2;
	// negative: approved at the first poll.
	DevicePendingPolls int
	// ManualDeviceApproval: device codes wait for ApproveDevice (or
	// POST /_emulator/approve-device, or the verification page) instead.
	ManualDeviceApproval bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o IdPOptions) withDefaults() IdPOptions {
	if o.Tenant == "" {
		o.Tenant = DefaultTenant
	}
	if strings.Contains(strings.ToLower(o.Tenant), "token") || strings.ContainsAny(o.Tenant, "/?#") {
		panic(fmt.Sprintf("graphtest: IdP tenant %q must be one path segment without the word \"token\"", o.Tenant))
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.ExpiresIn <= 0 {
		o.ExpiresIn = o.TokenTTL
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 90 * 24 * time.Hour
	}
	if o.DevicePendingPolls == 0 {
		o.DevicePendingPolls = 2
	} else if o.DevicePendingPolls < 0 {
		o.DevicePendingPolls = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// IdPTokenRequest is one answered request to the token or device code endpoint,
// for tests to check which flows ran. It holds no secret.
type IdPTokenRequest struct {
	Grant    string // device_code, authorization_code, refresh_token, client_credentials, devicecode (a new device code)
	ClientID string
	User     string // who the tokens were for, when known
	Error    string // the OAuth error answered ("" on success), e.g. authorization_pending
	Claims   bool   // the request carried a claims parameter
}

// IdP is the fake identity provider. Safe for concurrent use.
type IdP struct {
	opts   IdPOptions
	tokens TokenIssuer
	key    *ecdsa.PrivateKey // signs id_tokens (MSAL does not check; others may)

	mu       sync.Mutex
	apps     map[string]*idpApp         // confidential clients by client id
	devices  map[string]*idpDeviceGrant // by device_code
	codes    map[string]*idpAuthCode    // by authorization code
	refresh  map[string]*idpRefresh     // by refresh token
	jtis     map[string]time.Time       // client assertion ids seen (replays refused)
	requests []IdPTokenRequest
}

type idpApp struct {
	secret string
	certs  []*x509.Certificate
}

// NewIdP returns an identity provider handing out tokens minted by tokens.
func NewIdP(tokens TokenIssuer, opts IdPOptions) *IdP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("graphtest: IdP key: " + err.Error())
	}
	return &IdP{
		opts:    opts.withDefaults(),
		tokens:  tokens,
		key:     key,
		apps:    map[string]*idpApp{},
		devices: map[string]*idpDeviceGrant{},
		codes:   map[string]*idpAuthCode{},
		refresh: map[string]*idpRefresh{},
		jtis:    map[string]time.Time{},
	}
}

// InstallIdP creates an identity provider handing out e's tokens and mounts it
// on e's Graph host under /{tenant}/, /common/ and /organizations/.
func InstallIdP(e *Emulator, opts IdPOptions) *IdP {
	p := NewIdP(e, opts)
	for _, t := range []string{p.opts.Tenant, "common", "organizations"} {
		e.Mount("/"+t+"/", p)
	}
	return p
}

// Tenant is the tenant path segment the IdP serves.
func (p *IdP) Tenant() string { return p.opts.Tenant }

// ClientID is the public client id the IdP knows.
func (p *IdP) ClientID() string { return p.opts.ClientID }

// Authority returns the authority URL for MSAL given the listener's base URL
// (scheme://host:port, a path after it is dropped), e.g. https://127.0.0.1:PORT/outlookfs-emulator.
func (p *IdP) Authority(baseURL string) string {
	if i := strings.Index(baseURL, "://"); i >= 0 {
		if j := strings.IndexByte(baseURL[i+3:], '/'); j >= 0 {
			baseURL = baseURL[:i+3+j]
		}
	}
	return strings.TrimSuffix(baseURL, "/") + "/" + p.opts.Tenant
}

// RegisterAppSecret registers (or updates) a confidential client that
// authenticates with a client secret.
func (p *IdP) RegisterAppSecret(clientID, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.app(clientID)
	a.secret = secret
}

// RegisterAppCert registers a certificate a confidential client signs its
// client assertions with (PS256, or RS256 with x5t).
func (p *IdP) RegisterAppCert(clientID string, cert *x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.app(clientID)
	a.certs = append(a.certs, cert)
}

func (p *IdP) app(clientID string) *idpApp {
	a := p.apps[clientID]
	if a == nil {
		a = &idpApp{}
		p.apps[clientID] = a
	}
	return a
}

// RevokeSessions revokes every refresh token of user (as an administrator's
// "revoke sessions" does); it returns how many there were.
func (p *IdP) RevokeSessions(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, rt := range p.refresh {
		if strings.EqualFold(rt.user, user) && !rt.revoked {
			rt.revoked = true
			n++
		}
	}
	return n
}

// ExpireRefreshTokens makes every refresh token issued so far expired.
func (p *IdP) ExpireRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	past := p.opts.Now().Add(-time.Second)
	for _, rt := range p.refresh {
		rt.expires = past
	}
}

// TokenRequests returns the answered token and device code requests, oldest first.
func (p *IdP) TokenRequests() []IdPTokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]IdPTokenRequest(nil), p.requests...)
}

func (p *IdP) record(r IdPTokenRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r)
}

// ServeHTTP serves, for the IdP's tenant and for common and organizations:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	GET  /{tenant}/discovery/v2.0/keys
//	GET  /{tenant}/oauth2/v2.0/authorize     (signs the user in at once, answers form_post or query)
//	POST /{tenant}/oauth2/v2.0/devicecode
//	POST /{tenant}/oauth2/v2.0/token
//	GET|POST /{tenant}/devicelogin           (the device code verification page)
//	POST /{tenant}/devicelogin/approve       (ApproveDeviceHandler: user_code=..[&user=..][&deny=1])
//
// and 404 for anything else. Mount it on the Graph listener for every path
// outside /v1.0/ and /_emulator/.
func (p *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !p.servesTenant(tenant) {
		http.NotFound(w, r)
		return
	}
	base := idpBaseURL(r) + "/" + tenant
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		idpOnly(w, r, http.MethodGet, func() { p.serveDiscovery(w, base) })
	case "discovery/v2.0/keys":
		idpOnly(w, r, http.MethodGet, func() { p.serveKeys(w) })
	case "oauth2/v2.0/authorize":
		p.serveAuthorize(w, r)
	case "oauth2/v2.0/devicecode":
		idpOnly(w, r, http.MethodPost, func() { p.serveDeviceCode(w, r, base) })
	case "oauth2/v2.0/token":
		idpOnly(w, r, http.MethodPost, func() { p.serveToken(w, r, base) })
	case "devicelogin":
		p.serveDeviceLogin(w, r)
	case "devicelogin/approve":
		p.ApproveDeviceHandler()(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *IdP) servesTenant(t string) bool {
	return t == p.opts.Tenant || t == "common" || t == "organizations"
}

func idpOnly(w http.ResponseWriter, r *http.Request, method string, f func()) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f()
}

// idpBaseURL is scheme://host of the request as the client addressed it.
func idpBaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, base string) {
	idpWriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "preferred_username", "ver"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "outlookfs.test",
	})
}

// idpOAuthError is an error answer of the token, device code or authorize endpoint.
type idpOAuthError struct {
	status int
	code   string // OAuth error, e.g. invalid_grant
	aadsts int    // AADSTS number, e.g. 50173
	desc   string
}

func (e *idpOAuthError) Error() string { return e.code + ": " + e.desc }

func idpErr(status int, code string, aadsts int, format string, args ...any) *idpOAuthError {
	return &idpOAuthError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

// write answers in the identity platform's error format.
func (e *idpOAuthError) write(w http.ResponseWriter) {
	trace := idpRandomID()
	corr := idpRandomID()
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.aadsts, e.desc, trace, corr, now)
	idpWriteJSON(w, e.status, map[string]any{
		"error":             e.code,
		"error_description": desc,
		"error_codes":       []int{e.aadsts},
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

func idpWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
