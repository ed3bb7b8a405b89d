package graphtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// idpTestIssuer mints numbered tokens.
type idpTestIssuer struct {
	mu sync.Mutex
	n  int
}

func (f *idpTestIssuer) IssueToken(upn string, ttl time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprintf("user-token-%d-%s-%s", f.n, upn, ttl)
}
func (f *idpTestIssuer) AppToken() string { return "app-token" }

type idpHarness struct {
	t    *testing.T
	p    *IdP
	srv  *httptest.Server
	base string // https://127.0.0.1:PORT/TENANT
}

func newIdPHarness(t *testing.T, opts IdPOptions) *idpHarness {
	p := NewIdP(&idpTestIssuer{}, opts)
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &idpHarness{t: t, p: p, srv: srv, base: p.Authority(srv.URL)}
}

// post sends a form to the IdP path and decodes the JSON answer.
func (h *idpHarness) post(path string, form url.Values) (int, map[string]any) {
	h.t.Helper()
	resp, err := h.srv.Client().PostForm(h.base+path, form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		h.t.Fatalf("%s: not JSON (%d): %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func (h *idpHarness) token(form url.Values) (int, map[string]any) {
	return h.post("/oauth2/v2.0/token", form)
}

func wantOAuthError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Fatalf("answer %d %v, want %d %s", status, body["error"], wantStatus, wantCode)
	}
	if d, _ := body["error_description"].(string); !strings.HasPrefix(d, "AADSTS") {
		t.Errorf("error_description %q does not start with AADSTS", d)
	}
}

func TestIdPDiscovery(t *testing.T) {
	h := newIdPHarness(t, IdPOptions{})
	for _, tenant := range []string{DefaultTenant, "common", "organizations"} {
		u := strings.TrimSuffix(h.srv.URL, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"
		resp, err := h.srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		base := h.srv.URL + "/" + tenant
		if d["issuer"] != base+"/v2.0" || d["token_endpoint"] != base+"/oauth2/v2.0/token" || d["authorization_endpoint"] != base+"/oauth2/v2.0/authorize" {
			t.Errorf("%s: %v", tenant, d)
		}
	}
	resp, err := h.srv.Client().Get(h.srv.URL + "/other-tenant/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant: %d", resp.StatusCode)
	}
}

func TestIdPDeviceCode(t *testing.T) {
	clk := &idpClock{t: time.Now()}
	h := newIdPHarness(t, IdPOptions{DevicePendingPolls: 2, Now: clk.Now})
	st, b := h.post("/oauth2/v2.0/devicecode", url.Values{"client_id": {"nobody"}, "scope": {"x"}})
	wantOAuthError(t, st, b, 400, "unauthorized_client")

	st, b = h.post("/oauth2/v2.0/devicecode", url.Values{"client_id": {DefaultClientID}, "scope": {"https://graph.microsoft.com/Mail.ReadWrite openid offline_access profile"}})
	if st != 200 || b["expires_in"].(float64) <= 0 || !strings.Contains(b["message"].(string), b["user_code"].(string)) {
		t.Fatalf("devicecode: %d %v", st, b)
	}
	dc := b["device_code"].(string)
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {DefaultClientID}, "device_code": {dc}, "client_info": {"1"}}
	for i := 0; i < 2; i++ {
		st, b = h.token(poll)
		wantOAuthError(t, st, b, 400, "authorization_pending")
	}
	// The RFC 8628 grant type works too.
	poll.Set("grant_type", "urn:ietf:params:oauth:grant-type:device_code")
	st, b = h.token(poll)
	if st != 200 || b["access_token"] != "user-token-1-"+DefaultUser+"-1h0m0s" || b["refresh_token"] == "" || b["id_token"] == "" {
		t.Fatalf("token: %d %v", st, b)
	}
	h.checkIDToken(b["id_token"].(string), DefaultUser)
	ci, err := base64.RawURLEncoding.DecodeString(b["client_info"].(string))
	if err != nil || !strings.Contains(string(ci), `"utid"`) {
		t.Errorf("client_info %q: %v", b["client_info"], err)
	}
	st, b = h.token(poll)
	wantOAuthError(t, st, b, 400, "invalid_grant") // redeemed once only

	// A code nobody approves expires.
	_, b = h.post("/oauth2/v2.0/devicecode", url.Values{"client_id": {DefaultClientID}, "scope": {"x"}})
	clk.advance(16 * time.Minute)
	st, b = h.token(url.Values{"grant_type": {"device_code"}, "client_id": {DefaultClientID}, "device_code": {b["device_code"].(string)}})
	wantOAuthError(t, st, b, 400, "expired_token")
}

func TestIdPDeviceApprovalByHand(t *testing.T) {
	h := newIdPHarness(t, IdPOptions{ManualDeviceApproval: true})
	_, b := h.post("/oauth2/v2.0/devicecode", url.Values{"client_id": {DefaultClientID}, "scope": {"x"}})
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {DefaultClientID}, "device_code": {b["device_code"].(string)}}
	for i := 0; i < 5; i++ {
		st, body := h.token(poll)
		wantOAuthError(t, st, body, 400, "authorization_pending")
	}
	// The verification page, as a person fills it in.
	resp, err := h.srv.Client().PostForm(h.base+"/devicelogin", url.Values{"user_code": {b["user_code"].(string)}, "user": {"carol@outlookfs.test"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "You are signed in") {
		t.Fatalf("verification page: %d %s", resp.StatusCode, page)
	}
	st, body := h.token(poll)
	if st != 200 || !strings.Contains(body["access_token"].(string), "carol@outlookfs.test") {
		t.Fatalf("after approval: %d %v", st, body)
	}
	// The approve endpoint: unknown codes are 404.
	resp, err = h.srv.Client().PostForm(h.base+"/devicelogin/approve", url.Values{"user_code": {"NOSUCHCODE"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("approve of an unknown code: %d", resp.StatusCode)
	}
}

// checkIDToken verifies the id_token's ES256 signature with the published key and its claims.
func (h *idpHarness) checkIDToken(tok, user string) {
	h.t.Helper()
	resp, err := h.srv.Client().Get(h.base + "/discovery/v2.0/keys")
	if err != nil {
		h.t.Fatal(err)
	}
	var jwks struct{ Keys []map[string]string }
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 {
		h.t.Fatalf("keys: %v", jwks)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0]["x"])
	y, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0]["y"])
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		h.t.Error("id_token signature does not verify")
	}
	var c map[string]any
	if err := idpDecodeSegment(parts[1], &c); err != nil {
		h.t.Fatal(err)
	}
	if c["preferred_username"] != user || c["aud"] != DefaultClientID || c["iss"] != h.base+"/v2.0" || c["oid"] == "" || c["tid"] == "" || c["name"] == "" {
		h.t.Errorf("id_token claims %v", c)
	}
}

func pkcePair() (verifier, challenge string) {
	verifier = idpRandomString(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestIdPAuthorizationCode(t *testing.T) {
	h := newIdPHarness(t, IdPOptions{})
	verifier, challenge := pkcePair()
	authorize := func(q url.Values) *http.Response {
		t.Helper()
		resp, err := h.srv.Client().Get(h.base + "/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	q := url.Values{
		"client_id": {DefaultClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:12345"},
		"scope": {"https://graph.microsoft.com/Mail.ReadWrite openid"}, "state": {"st"}, "login_hint": {"dave@outlookfs.test"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	// response_mode=query: a redirect with the code.
	resp := authorize(q)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Host != "localhost:12345" || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := loc.Query().Get("code")
	redeem := url.Values{"grant_type": {"authorization_code"}, "client_id": {DefaultClientID}, "code": {code},
		"redirect_uri": {"http://localhost:12345"}, "code_verifier": {"wrong-verifier"}}
	st, b := h.token(redeem)
	wantOAuthError(t, st, b, 400, "invalid_grant")
	// A code is single use, even after a failed redemption.
	redeem.Set("code_verifier", verifier)
	st, b = h.token(redeem)
	wantOAuthError(t, st, b, 400, "invalid_grant")

	// form_post: the page's form carries the code to the redirect URI.
	q.Set("response_mode", "form_post")
	resp = authorize(q)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := idpInputRe.FindAllStringSubmatch(string(page), -1)
	form := url.Values{}
	for _, in := range m {
		form.Set(in[1], in[2])
	}
	if !strings.Contains(string(page), `action="http://localhost:12345"`) || form.Get("state") != "st" || form.Get("code") == "" {
		t.Fatalf("form_post page: %s", page)
	}
	redeem.Set("code", form.Get("code"))
	redeem.Set("redirect_uri", "http://localhost:9999")
	st, b = h.token(redeem)
	wantOAuthError(t, st, b, 400, "invalid_grant") // redirect URI differs
	resp = authorize(q)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, in := range idpInputRe.FindAllStringSubmatch(string(page), -1) {
		form.Set(in[1], in[2])
	}
	redeem.Set("code", form.Get("code"))
	redeem.Set("redirect_uri", "http://localhost:12345")
	st, b = h.token(redeem)
	if st != 200 || !strings.Contains(b["access_token"].(string), "dave@outlookfs.test") {
		t.Fatalf("redeem: %d %v", st, b)
	}

	// Refused before any redirect: an unknown client, a redirect URI not on loopback.
	for _, bad := range []url.Values{{"client_id": {"nobody"}}, {"redirect_uri": {"https://evil.example/cb"}}} {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		for k, v := range bad {
			q2[k] = v
		}
		resp = authorize(q2)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("authorize with %v: %d", bad, resp.StatusCode)
		}
	}
	// No PKCE: an error sent back to the client.
	q.Del("code_challenge")
	q.Set("response_mode", "query")
	resp = authorize(q)
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("authorize without PKCE: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestIdPRefreshTokens(t *testing.T) {
	clk := &idpClock{t: time.Now()}
	h := newIdPHarness(t, IdPOptions{DevicePendingPolls: -1, RefreshTokenTTL: time.Hour, Now: clk.Now})
	signIn := func(user string) string {
		_, b := h.post("/oauth2/v2.0/devicecode", url.Values{"client_id": {DefaultClientID}, "scope": {"x"}})
		if user != "" {
			if err := h.p.ApproveDevice(b["user_code"].(string), user); err != nil {
				t.Fatal(err)
			}
		}
		_, b = h.token(url.Values{"grant_type": {"device_code"}, "client_id": {DefaultClientID}, "device_code": {b["device_code"].(string)}})
		return b["refresh_token"].(string)
	}
	rt := signIn("")
	refresh := func(rt string) (int, map[string]any) {
		return h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "refresh_token": {rt}, "scope": {"a b"}})
	}
	st, b := refresh(rt)
	if st != 200 || b["refresh_token"] == rt || b["scope"] != "a b" {
		t.Fatalf("refresh: %d %v", st, b)
	}
	st, b = h.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {"other"}, "refresh_token": {rt}})
	wantOAuthError(t, st, b, 400, "unauthorized_client")

	other := signIn("erin@outlookfs.test")
	if n := h.p.RevokeSessions(DefaultUser); n != 2 {
		t.Errorf("RevokeSessions revoked %d tokens, want 2", n)
	}
	st, b = refresh(rt)
	wantOAuthError(t, st, b, 400, "invalid_grant")
	if !strings.HasPrefix(b["error_description"].(string), "AADSTS50173") {
		t.Errorf("revoked: %v", b["error_description"])
	}
	if st, _ := refresh(other); st != 200 {
		t.Errorf("another user's session was revoked too: %d", st)
	}
	clk.advance(2 * time.Hour)
	st, b = refresh(other)
	wantOAuthError(t, st, b, 400, "invalid_grant")
	if !strings.HasPrefix(b["error_description"].(string), "AADSTS700082") {
		t.Errorf("expired: %v", b["error_description"])
	}
}

// newRSACert returns a self-signed RSA certificate and its key.
func newRSACert(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// assertion signs a client assertion as MSAL does (PS256 + x5t#S256), or RS256 + x5t.
func assertion(t *testing.T, cert *x509.Certificate, key *rsa.PrivateKey, alg, clientID, aud, jti string) string {
	hdr := map[string]string{"alg": alg, "typ": "JWT"}
	if alg == "PS256" {
		s := sha256.Sum256(cert.Raw)
		hdr["x5t#S256"] = base64.StdEncoding.EncodeToString(s[:])
	} else {
		s := sha1.Sum(cert.Raw)
		hdr["x5t"] = base64.StdEncoding.EncodeToString(s[:])
	}
	now := time.Now().Unix()
	claims := map[string]any{"aud": aud, "iss": clientID, "sub": clientID, "jti": jti, "nbf": now, "exp": now + 600}
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	var sig []byte
	var err error
	if alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestIdPClientCredentials(t *testing.T) {
	h := newIdPHarness(t, IdPOptions{})
	const app = "app-1"
	h.p.RegisterAppSecret(app, "the-secret")
	cert, key := newRSACert(t)
	h.p.RegisterAppCert(app, cert)
	tokenURL := h.base + "/oauth2/v2.0/token"
	cc := func(extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {app}, "scope": {"https://graph.microsoft.com/.default openid offline_access profile"}}
		for k, v := range extra {
			f[k] = v
		}
		return h.token(f)
	}
	st, b := cc(url.Values{"client_secret": {"the-secret"}})
	if st != 200 || b["access_token"] != "app-token" || b["refresh_token"] != nil || b["id_token"] != nil {
		t.Fatalf("secret: %d %v", st, b)
	}
	st, b = cc(url.Values{"client_secret": {"wrong"}})
	wantOAuthError(t, st, b, 401, "invalid_client")
	st, b = cc(url.Values{"client_secret": {"the-secret"}, "scope": {"https://graph.microsoft.com/Mail.ReadWrite"}})
	wantOAuthError(t, st, b, 400, "invalid_scope")
	st, b = cc(url.Values{})
	wantOAuthError(t, st, b, 401, "invalid_client")
	st, b = h.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "scope": {"x/.default"}})
	wantOAuthError(t, st, b, 401, "invalid_client") // the public client has no credentials

	jwtType := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	with := func(a string) url.Values {
		v := url.Values{"client_assertion": {a}}
		for k, x := range jwtType {
			v[k] = x
		}
		return v
	}
	for _, alg := range []string{"PS256", "RS256"} {
		st, b = cc(with(assertion(t, cert, key, alg, app, tokenURL, "jti-"+alg)))
		if st != 200 || b["access_token"] != "app-token" {
			t.Fatalf("%s assertion: %d %v", alg, st, b)
		}
	}
	st, b = cc(with(assertion(t, cert, key, "PS256", app, tokenURL, "jti-PS256")))
	wantOAuthError(t, st, b, 401, "invalid_client") // replayed
	st, b = cc(with(assertion(t, cert, key, "PS256", app, "https://elsewhere/token", "jti-2")))
	wantOAuthError(t, st, b, 401, "invalid_client") // wrong audience
	st, b = cc(with(assertion(t, cert, key, "PS256", "app-2", tokenURL, "jti-3")))
	wantOAuthError(t, st, b, 401, "invalid_client") // iss/sub not the client
	otherCert, otherKey := newRSACert(t)
	st, b = cc(with(assertion(t, otherCert, otherKey, "PS256", app, tokenURL, "jti-4")))
	wantOAuthError(t, st, b, 401, "invalid_client") // unregistered certificate
	forged := assertion(t, cert, otherKey, "PS256", app, tokenURL, "jti-5")
	st, b = cc(with(forged))
	wantOAuthError(t, st, b, 401, "invalid_client") // registered thumbprint, wrong key

	reqs := h.p.TokenRequests()
	ok := 0
	for _, r := range reqs {
		if r.Grant == "client_credentials" && r.Error == "" {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("%d successful client_credentials grants recorded, want 3", ok)
	}
}

func TestIdPBrowser(t *testing.T) {
	h := newIdPHarness(t, IdPOptions{})
	got := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		_ = r.ParseForm()
		got <- r.PostForm
	}))
	defer cb.Close()
	redirect := strings.Replace(cb.URL, "127.0.0.1", "localhost", 1)
	_, challenge := pkcePair()
	q := url.Values{"client_id": {DefaultClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"s"},
		"state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "response_mode": {"form_post"}}
	if err := Browser(h.srv.Client())(h.base + "/oauth2/v2.0/authorize?" + q.Encode()); err != nil {
		t.Fatal(err)
	}
	f := <-got
	if f.Get("state") != "xyz" || f.Get("code") == "" {
		t.Errorf("the redirect URI got %v", f)
	}
}

type idpClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *idpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *idpClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
