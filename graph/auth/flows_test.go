package auth_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// useToken proves a token source works at Graph: it lists the drafts of mailbox.
func (e *testEnv) useToken(ctx context.Context, cfg *auth.Config, mailbox string) {
	e.t.Helper()
	src, err := auth.NewTokenSource(ctx, cfg)
	if err != nil {
		e.t.Fatalf("NewTokenSource: %v", err)
	}
	c := e.graphClient(src, mailbox)
	id, err := c.CreateDraft(ctx, "signed in")
	if err != nil {
		e.t.Fatalf("CreateDraft with the token: %v", err)
	}
	drafts, err := c.ListDrafts(ctx)
	if err != nil {
		e.t.Fatalf("ListDrafts with the token: %v", err)
	}
	for _, d := range drafts {
		if d.ID == id.ID {
			return
		}
	}
	e.t.Fatalf("the new draft %s is not listed", id.ID)
}

func TestDeviceCodeLogin(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{DevicePendingPolls: 3})
	ctx := ctxT(t)
	out := e.login(ctx)

	if !regexp.MustCompile(`To sign in, use a web browser to open the page https://\S+/devicelogin and enter the code [A-Z0-9]{9} to authenticate\.`).MatchString(out) {
		t.Errorf("Login did not print the device code message:\n%s", out)
	}
	if !strings.Contains(out, "Signed in as Alice <"+testUser+"> (profile test).") {
		t.Errorf("Login output:\n%s", out)
	}
	g := e.grants()
	if count(g, "device_code:authorization_pending") != 3 || count(g, "device_code") != 1 || count(g, "devicecode") != 1 {
		t.Errorf("IdP saw %v, want a device code, 3 pending polls, then the token", g)
	}
	e.useToken(ctx, e.config(), "")

	var who syncBuffer
	if err := auth.Whoami(ctx, e.config(), &who); err != nil {
		t.Fatalf("Whoami: %v", err)
	}
	w := whoami(who.String())
	for k, want := range map[string]string{"profile": "test", "mailbox": "me (" + testUser + ")", "graph": e.srv.GraphURL,
		"sign-in": "user", "authority": e.idp.Authority(e.srv.RootURL)} {
		if w[k] != want {
			t.Errorf("Whoami %s = %q, want %q", k, w[k], want)
		}
	}
	if !strings.HasPrefix(w["account"], "Alice <"+testUser+"> (tenant ") {
		t.Errorf("Whoami account = %q", w["account"])
	}
}

func TestDeviceCodeApprovedOnDemand(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{ManualDeviceApproval: true})
	ctx := ctxT(t)
	bob := e.srv.Emulator.AddMailbox("bob@outlookfs.test")
	_ = bob

	// Approve as another user through the emulator's control endpoint, as a
	// script driving the emulator would.
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			codes := e.idp.PendingDeviceCodes()
			if len(codes) == 0 || count(e.grants(), "device_code:authorization_pending") == 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			u := e.srv.RootURL + "/_emulator/approve-device?" + url.Values{"user_code": {codes[0]}, "user": {"bob@outlookfs.test"}}.Encode()
			resp, err := e.srv.HTTPClient().Post(u, "", nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					err = errors.New(resp.Status)
				}
			}
			done <- err
			return
		}
		done <- ctx.Err()
	}()
	var out syncBuffer
	if err := auth.Login(ctx, e.config(), &out); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("approve: %v", err)
	}
	if !strings.Contains(out.String(), "Signed in as Bob <bob@outlookfs.test>") {
		t.Errorf("Login output:\n%s", out.String())
	}
	if count(e.grants(), "device_code:authorization_pending") < 1 {
		t.Errorf("no pending poll before the approval: %v", e.grants())
	}
	e.cacheSecrets()
	e.useToken(ctx, e.config(), "")
}

func TestDeviceCodeDeclined(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{ManualDeviceApproval: true})
	ctx := ctxT(t)
	go func() {
		for ctx.Err() == nil {
			if codes := e.idp.PendingDeviceCodes(); len(codes) > 0 {
				_ = e.idp.DenyDevice(codes[0])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	err := auth.Login(ctx, e.config(), &syncBuffer{})
	var se *auth.SignInError
	if !errors.As(err, &se) || se.Code != "authorization_declined" {
		t.Fatalf("Login = %v, want a SignInError authorization_declined", err)
	}
}

func TestBrowserLogin(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{})
	ctx := ctxT(t)
	cfg := e.config()
	cfg.Browser = true
	var opened string
	browser := graphtest.Browser(e.srv.HTTPClient())
	cfg.OpenURL = func(u string) error {
		opened = u
		return browser(u)
	}
	var out syncBuffer
	if err := auth.Login(ctx, cfg, &out); err != nil {
		t.Fatalf("Login --browser: %v", err)
	}
	u, err := url.Parse(opened)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasSuffix(u.Path, "/oauth2/v2.0/authorize") || q.Get("response_mode") != "form_post" ||
		q.Get("code_challenge_method") != "S256" || !strings.HasPrefix(q.Get("redirect_uri"), "http://localhost:") {
		t.Errorf("authorize URL %s", opened)
	}
	for _, s := range []string{"Mail.ReadWrite", "Calendars.ReadWrite", "offline_access"} {
		if !strings.Contains(q.Get("scope"), s) {
			t.Errorf("scope %q lacks %s", q.Get("scope"), s)
		}
	}
	if !strings.Contains(q.Get("scope"), "https://graph.microsoft.com/Mail.ReadWrite") {
		t.Errorf("scope %q is not named after the cloud's Graph host", q.Get("scope"))
	}
	if g := e.grants(); count(g, "authorization_code") != 1 {
		t.Errorf("IdP saw %v, want one authorization_code grant", g)
	}
	if !strings.Contains(out.String(), "Signed in as Alice <"+testUser+">") {
		t.Errorf("Login output:\n%s", out.String())
	}
	e.cacheSecrets()
	e.useToken(ctx, e.config(), "")
}

// A new process loads the cache file and refreshes silently.
func TestSilentRefreshInNewProcess(t *testing.T) {
	// expires_in <= 300: MSAL never caches the access token, so every silent call refreshes.
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{ExpiresIn: 5 * time.Minute, DevicePendingPolls: -1})
	ctx := ctxT(t)
	e.login(ctx)
	before := count(e.grants(), "refresh_token")

	// "Another process": a new Config, a new MSAL client, the same state directory.
	src := e.tokenSource(ctx)
	tok1, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	e.secret("access token", tok1)
	tok2, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	e.secret("access token", tok2)
	if tok1 == tok2 {
		t.Error("a token announced for 5 minutes was served from the cache")
	}
	if n := count(e.grants(), "refresh_token") - before; n != 2 {
		t.Errorf("%d refresh_token grants for 2 silent calls, want 2 (%v)", n, e.grants())
	}
	e.useToken(ctx, e.config(), "")
	e.checkCacheFileModes()
	e.requireSecrets("RefreshToken", "IdToken", "access token")
}

// With a long-lived token the cache serves it; Refresh still gets a new one.
func TestRefreshBypassesCachedToken(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{DevicePendingPolls: -1})
	ctx := ctxT(t)
	e.login(ctx)
	src := e.tokenSource(ctx)
	a, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a valid cached token was not reused")
	}
	if n := count(e.grants(), "refresh_token"); n != 0 {
		t.Errorf("%d refresh_token grants while the cached token was valid", n)
	}
	c, err := src.Refresh(ctx)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for _, s := range []string{a, c} {
		e.secret("access token", s)
	}
	if c == a {
		t.Error("Refresh returned the cached token")
	}
	reqs := e.idp.TokenRequests()
	last := reqs[len(reqs)-1]
	if last.Grant != "refresh_token" || !last.Claims || last.Error != "" {
		t.Errorf("Refresh sent %+v, want a refresh_token grant with claims", last)
	}
	// The next Token is the refreshed one, from the cache (also for another process).
	d, err := src.Token(ctx)
	if err != nil || d != c {
		t.Errorf("Token after Refresh = same? %v, err %v", d == c, err)
	}
}

func (e *testEnv) checkCacheFileModes() {
	e.t.Helper()
	dir := filepath.Join(e.stateDir, "auth")
	di, err := os.Stat(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		e.t.Errorf("cache directory mode %v, want 0700", di.Mode().Perm())
	}
	fi, err := os.Stat(filepath.Join(dir, "msal-cache.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		e.t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	sd, err := os.Stat(e.stateDir)
	if err != nil {
		e.t.Fatal(err)
	}
	if sd.Mode().Perm()&0o077 != 0 {
		e.t.Errorf("state directory mode %v is open to others", sd.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".tmp") {
			e.t.Errorf("temporary file %s left behind", en.Name())
		}
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{DevicePendingPolls: -1})
	ctx := ctxT(t)
	e.login(ctx)
	var out syncBuffer
	if err := auth.Logout(ctx, e.config(), &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "auth", "msal-cache.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cache file still there after logout: %v", err)
	}
	_, err := auth.NewTokenSource(ctx, e.config())
	if !errors.Is(err, auth.ErrLoginRequired) || err.Error() != "not signed in for profile test: run `outlookfs login --profile test`" {
		t.Errorf("after logout: %v", err)
	}
	err = auth.Whoami(ctx, e.config(), &syncBuffer{})
	if !errors.Is(err, auth.ErrLoginRequired) {
		t.Errorf("Whoami after logout: %v", err)
	}
}
