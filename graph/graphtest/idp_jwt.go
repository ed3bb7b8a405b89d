package graphtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// idpRandomID returns a random UUID-shaped string.
func idpRandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// idpRandomString returns n random bytes, base64url without padding.
func idpRandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// idpStableID derives a stable UUID-shaped id from parts (object ids, tenant ids).
func idpStableID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.Join(parts, "\x00"))))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// idpDisplayName makes "Demo User" of "demo.user@outlookfs.test".
func idpDisplayName(upn string) string {
	local, _, _ := strings.Cut(upn, "@")
	words := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' })
	for i, w := range words {
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// idpIdentity is who a set of tokens is for.
type idpIdentity struct {
	user     string // UPN
	oid, tid string
}

func (p *IdP) identity(user string) idpIdentity {
	return idpIdentity{user: user, oid: idpStableID("oid", user), tid: idpStableID("tid", p.opts.Tenant)}
}

// idToken returns a signed (ES256) id_token for who, issued by issuer to clientID.
func (p *IdP) idToken(issuer, clientID string, who idpIdentity) string {
	now := p.opts.Now()
	claims := map[string]any{
		"aud":                clientID,
		"iss":                issuer,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
		"name":               idpDisplayName(who.user),
		"oid":                who.oid,
		"preferred_username": who.user,
		"sub":                idpStableID("sub", who.oid, clientID),
		"tid":                who.tid,
		"ver":                "2.0",
	}
	return p.signES256(claims)
}

// clientInfo is MSAL's client_info: base64url, no padding, of {"uid","utid"}.
func (who idpIdentity) clientInfo() string {
	b, _ := json.Marshal(map[string]string{"uid": who.oid, "utid": who.tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *IdP) keyID() string {
	pub, _ := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	h := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(h[:12])
}

func (p *IdP) signES256(claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": p.keyID()})
	body, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, sum[:])
	if err != nil {
		panic("graphtest: sign id_token: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (p *IdP) serveKeys(w http.ResponseWriter) {
	pub := p.key.PublicKey
	var x, y [32]byte
	pubBytes, _ := pub.Bytes() // uncompressed point: 0x04 || X || Y
	copy(x[:], pubBytes[1:33])
	copy(y[:], pubBytes[33:65])
	idpWriteJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "use": "sig", "crv": "P-256", "kid": p.keyID(),
		"x": base64.RawURLEncoding.EncodeToString(x[:]),
		"y": base64.RawURLEncoding.EncodeToString(y[:]),
	}}})
}

// idpAssertion is a verified client assertion's claims.
type idpAssertion struct {
	Aud string      `json:"aud"`
	Iss string      `json:"iss"`
	Sub string      `json:"sub"`
	Jti string      `json:"jti"`
	Exp json.Number `json:"exp"`
	Nbf json.Number `json:"nbf"`
}

// verifyAssertion checks a client assertion (RFC 7523) against the client's
// registered certificates: signature (PS256 with x5t#S256, or RS256 with x5t),
// issuer and subject, audience (the token endpoint) and lifetime.
func (p *IdP) verifyAssertion(assertion, clientID, tokenEndpoint string, certs []*x509.Certificate) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("the client assertion is not a JWT")
	}
	var hdr map[string]any
	if err := idpDecodeSegment(parts[0], &hdr); err != nil {
		return fmt.Errorf("client assertion header: %w", err)
	}
	alg, _ := hdr["alg"].(string)
	var thumbKey string
	switch alg {
	case "PS256":
		thumbKey = "x5t#S256"
	case "RS256":
		thumbKey = "x5t"
	default:
		return fmt.Errorf("client assertion algorithm %q is not supported", alg)
	}
	thumb, _ := hdr[thumbKey].(string)
	if thumb == "" {
		return fmt.Errorf("client assertion has no %s header", thumbKey)
	}
	var cert *x509.Certificate
	for _, c := range certs {
		var sum []byte
		if thumbKey == "x5t" {
			s := sha1.Sum(c.Raw)
			sum = s[:]
		} else {
			s := sha256.Sum256(c.Raw)
			sum = s[:]
		}
		if idpThumbprintMatches(thumb, sum) {
			cert = c
			break
		}
	}
	if cert == nil {
		return errors.New("the certificate the client assertion names is not registered for this application")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the registered certificate has no RSA key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("client assertion signature: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if alg == "PS256" {
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	} else {
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	}
	if err != nil {
		return errors.New("the client assertion's signature does not verify")
	}
	now := p.opts.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return errors.New("the certificate has expired or is not yet valid")
	}
	var c idpAssertion
	if err := idpDecodeSegment(parts[1], &c); err != nil {
		return fmt.Errorf("client assertion claims: %w", err)
	}
	if c.Iss != clientID || c.Sub != clientID {
		return errors.New("the client assertion's iss and sub must be the client id")
	}
	if !strings.EqualFold(c.Aud, tokenEndpoint) {
		return fmt.Errorf("the client assertion's audience %q is not the token endpoint", c.Aud)
	}
	exp, err1 := c.Exp.Int64()
	nbf, err2 := c.Nbf.Int64()
	if err1 != nil || err2 != nil {
		return errors.New("the client assertion needs numeric exp and nbf")
	}
	const skew = 5 * time.Minute
	if now.After(time.Unix(exp, 0).Add(skew)) {
		return errors.New("the client assertion has expired")
	}
	if now.Add(skew).Before(time.Unix(nbf, 0)) {
		return errors.New("the client assertion is not valid yet")
	}
	if c.Jti == "" {
		return errors.New("the client assertion has no jti")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, until := range p.jtis {
		if now.After(until) {
			delete(p.jtis, id)
		}
	}
	if _, seen := p.jtis[c.Jti]; seen {
		return errors.New("the client assertion was already used")
	}
	p.jtis[c.Jti] = time.Unix(exp, 0).Add(skew)
	return nil
}

// idpThumbprintMatches compares a thumbprint header (base64, either alphabet,
// padded or not; or hex) with sum.
func idpThumbprintMatches(header string, sum []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(header); err == nil && string(b) == string(sum) {
			return true
		}
	}
	b, err := hex.DecodeString(header)
	return err == nil && string(b) == string(sum)
}

func idpDecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(v)
}
