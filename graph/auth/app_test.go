package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const appID = "3f1d0c1e-7a51-4b7e-9d5e-0a4c2f6b8e21"

// appConfig is an app-only configuration: no /me, a mailbox to open.
func (e *testEnv) appConfig() *auth.Config {
	cfg := e.config()
	cfg.ClientID = appID
	cfg.Mailbox = testUser
	return cfg
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientSecret(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{})
	ctx := ctxT(t)
	const secret = "s3cr3t~Value.Of-The_App"
	e.secret("client secret", secret)
	e.idp.RegisterAppSecret(appID, secret)

	t.Run("file", func(t *testing.T) {
		cfg := e.appConfig()
		cfg.ClientSecretFile = writeFile(t, "secret", []byte(secret+"\n"))
		var out syncBuffer
		if err := auth.Login(ctx, cfg, &out); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if !strings.Contains(out.String(), "App-only sign-in works") {
			t.Errorf("Login output: %s", out.String())
		}
		cfg = e.appConfig()
		cfg.ClientSecretFile = writeFile(t, "secret", []byte(secret))
		e.useToken(ctx, cfg, testUser)
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv(auth.EnvClientSecret, secret)
		e.useToken(ctx, e.appConfig(), testUser)
		var who syncBuffer
		if err := auth.Whoami(ctx, e.appConfig(), &who); err != nil {
			t.Fatal(err)
		}
		if w := whoami(who.String()); w["account"] != "app "+appID+" (app-only)" || w["mailbox"] != testUser || w["sign-in"] != "app-only" {
			t.Errorf("Whoami:\n%s", who.String())
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		const wrong = "not-the-secret-value"
		e.secret("client secret", wrong)
		t.Setenv(auth.EnvClientSecret, wrong)
		src, err := auth.NewTokenSource(ctx, e.appConfig())
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Token(ctx)
		var se *auth.SignInError
		if !errors.As(err, &se) || se.Code != "invalid_client" || se.Status != 401 {
			t.Fatalf("Token = %v, want a 401 invalid_client SignInError", err)
		}
		if errors.Is(err, auth.ErrLoginRequired) {
			t.Error("a wrong secret is not a sign-in to renew")
		}
		e.checkText("the error", err.Error())
	})
	t.Run("needs a mailbox", func(t *testing.T) {
		t.Setenv(auth.EnvClientSecret, secret)
		cfg := e.appConfig()
		cfg.Mailbox = "me"
		_, err := auth.NewTokenSource(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "--mailbox") {
			t.Fatalf("app-only with /me: %v", err)
		}
	})
	e.requireSecrets("client secret", "access token")
	if g := e.grants(); count(g, "client_credentials") < 2 || count(g, "client_credentials:invalid_client") != 1 {
		t.Errorf("IdP saw %v", g)
	}
}

// newCert returns a self-signed certificate and its key, PEM-encoded.
func newCert(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "outlookfs test app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})
	return certPEM, keyPEM, cert
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestClientCertificate(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{})
	ctx := ctxT(t)
	certPEM, keyPEM, cert := newCert(t)
	e.idp.RegisterAppCert(appID, cert)

	t.Run("separate key file", func(t *testing.T) {
		cfg := e.appConfig()
		cfg.CertFile = writeFile(t, "app.crt", certPEM)
		cfg.KeyFile = writeFile(t, "app.key", keyPEM)
		e.useToken(ctx, cfg, testUser)
	})
	t.Run("key in the certificate file", func(t *testing.T) {
		cfg := e.appConfig()
		cfg.CertFile = writeFile(t, "app.pem", append(append([]byte{}, certPEM...), keyPEM...))
		var out syncBuffer
		if err := auth.Login(ctx, cfg, &out); err != nil {
			t.Fatalf("Login: %v", err)
		}
	})
	t.Run("unregistered certificate", func(t *testing.T) {
		otherCert, otherKey, _ := newCert(t)
		cfg := e.appConfig()
		cfg.CertFile = writeFile(t, "other.crt", otherCert)
		cfg.KeyFile = writeFile(t, "other.key", otherKey)
		src, err := auth.NewTokenSource(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Token(ctx)
		var se *auth.SignInError
		if !errors.As(err, &se) || se.Code != "invalid_client" {
			t.Fatalf("Token = %v, want invalid_client", err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		cfg := e.appConfig()
		cfg.CertFile = writeFile(t, "app.crt", certPEM)
		if _, err := auth.NewTokenSource(ctx, cfg); err == nil {
			t.Fatal("a certificate without its key was accepted")
		}
	})
	if g := e.grants(); count(g, "client_credentials") != 2 || count(g, "client_credentials:invalid_client") != 1 {
		t.Errorf("IdP saw %v", g)
	}
}
