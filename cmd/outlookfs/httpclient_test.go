package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestGraphHTTPClient: the mount's Graph client trusts the sign-in client's roots (a --ca-file),
// bounds the wait for response headers (a server that never answers must fail the request, not
// hang a close for good), follows no redirect with the Authorization header, and has no overall
// timeout (large transfers outlast any).
func TestGraphHTTPClient(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, "https://elsewhere.example/steal", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	signIn := srv.Client() // trusts srv's certificate only, as a --ca-file would
	signIn.Timeout = 123
	c := graphHTTPClient(signIn)
	if c.Timeout != 0 {
		t.Errorf("Timeout = %v, want none", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout <= 0 {
		t.Fatalf("transport %T without a response-header timeout", c.Transport)
	}
	resp, err := c.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatalf("the sign-in client's roots are not trusted: %v", err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/away", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("redirect: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d: the redirect was followed", resp.StatusCode)
	}
}
