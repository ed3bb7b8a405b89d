package graphtest

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestServerTLS(t *testing.T) {
	s := StartT(t, Options{})
	if !strings.HasPrefix(s.GraphURL, "https://127.0.0.1:") || !strings.HasSuffix(s.GraphURL, "/v1.0") ||
		!strings.HasPrefix(s.UploadURL, "https://127.0.0.1:") || s.UploadURL == s.RootURL {
		t.Fatalf("URLs %q %q %q", s.GraphURL, s.RootURL, s.UploadURL)
	}
	pemBytes, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CA file is not a PEM certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA: %v, IsCA %v", err, ca != nil && ca.IsCA)
	}
	// A client that does not trust the CA is refused; HTTPClient trusts it.
	untrusting := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if _, err := untrusting.Get(s.GraphURL + "/me"); err == nil {
		t.Fatal("a client without the CA connected")
	}
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(t, s, m.Token())
	if r := c.do("GET", "/me/mailFolders/drafts", nil, nil); r.status != 200 {
		t.Fatalf("drafts folder: %d", r.status)
	}
	// Each host serves only its own paths.
	if r := c.do("GET", s.RootURL+"/api/v2.0/Users('a@outlookfs.test')/Messages('x')/AttachmentSessions('y')?authtoken=z", nil, nil); r.status != 404 {
		t.Fatalf("upload path on the Graph host: %d", r.status)
	}
	if r := newRaw(t, s, "").do("GET", s.UploadURL+"/v1.0/me/messages", nil, nil); r.status != 404 {
		t.Fatalf("Graph path on the upload host: %d", r.status)
	}
}

func TestServerPlainHTTP(t *testing.T) {
	s, err := Start(Options{}, ServerOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.CAFile != "" || !strings.HasPrefix(s.GraphURL, "http://") || !strings.HasPrefix(s.UploadURL, "http://") {
		t.Fatalf("plain server: %q %q %q", s.CAFile, s.GraphURL, s.UploadURL)
	}
	m := Seed(s.Emulator)
	c := newRaw(t, s, m.Token())
	draft := m.Drafts()[0].ID
	data := pattern(3 << 20)
	u := c.createSession("/me/messages/"+draft, "plain.bin", int64(len(data)))
	if !strings.HasPrefix(u, s.UploadURL+"/api/v2.0/") {
		t.Fatalf("uploadUrl %q", u)
	}
	if r := c.uploadAll(u, data, 4<<20); r.status != 201 {
		t.Fatalf("upload: %d", r.status)
	}
}

func TestServerTempCA(t *testing.T) {
	s, err := Start(Options{}, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.CAFile); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.CAFile); !os.IsNotExist(err) {
		t.Fatalf("Close left the temporary CA file: %v", err)
	}
	if _, err := Start(Options{}, ServerOptions{GraphAddr: "256.0.0.1:0"}); err == nil {
		t.Fatal("Start on a bad address succeeded")
	}
}

func TestServerIdP(t *testing.T) {
	s := StartT(t, Options{})
	if s.IdP == nil || s.Authority() != s.RootURL+"/"+DefaultTenant {
		t.Fatalf("authority %q", s.Authority())
	}
	c := newRaw(t, s, "")
	r := c.do("GET", s.Authority()+"/v2.0/.well-known/openid-configuration", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), "token_endpoint") {
		t.Fatalf("discovery: %d %s", r.status, r.body)
	}
	// The approval control endpoint is mounted (an unknown code is refused, not 404).
	r = c.do("POST", s.RootURL+"/_emulator/approve-device", []byte("user_code=NOPE"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.status == 404 && strings.Contains(string(r.body), "no such control endpoint") {
		t.Fatalf("approve-device not mounted: %s", r.body)
	}
}
