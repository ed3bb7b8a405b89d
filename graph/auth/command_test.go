package auth_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// tokenCommand writes a script printing the content of out (rewritten by the
// test) and counting its runs.
type tokenCommand struct {
	t         *testing.T
	dir       string
	out, runs string
}

func newTokenCommand(t *testing.T) *tokenCommand {
	dir := t.TempDir()
	return &tokenCommand{t: t, dir: dir, out: filepath.Join(dir, "out"), runs: filepath.Join(dir, "runs")}
}

func (c *tokenCommand) command() string {
	return fmt.Sprintf("echo run >> '%s'; cat '%s'", c.runs, c.out)
}

func (c *tokenCommand) prints(s string) {
	if err := os.WriteFile(c.out, []byte(s), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *tokenCommand) count() int {
	b, _ := os.ReadFile(c.runs)
	return strings.Count(string(b), "run")
}

func TestTokenCommand(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{})
	ctx := ctxT(t)
	cmd := newTokenCommand(t)
	cfgWith := func() *auth.Config {
		cfg := e.config()
		cfg.TokenCommand = cmd.command()
		return cfg
	}

	t.Run("bare token, kept until Refresh", func(t *testing.T) {
		tok := e.srv.Emulator.IssueToken(testUser, time.Hour)
		e.secret("access token", tok)
		cmd.prints(tok + "\n")
		src, err := auth.NewTokenSource(ctx, cfgWith())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			got, err := src.Token(ctx)
			if err != nil || got != tok {
				t.Fatalf("Token = %q, %v", got, err)
			}
		}
		if n := cmd.count(); n != 1 {
			t.Errorf("the command ran %d times for 3 Token calls, want 1", n)
		}
		tok2 := e.srv.Emulator.IssueToken(testUser, time.Hour)
		e.secret("access token", tok2)
		cmd.prints(tok2)
		if got, err := src.Refresh(ctx); err != nil || got != tok2 {
			t.Fatalf("Refresh = %q, %v; want the command's new token", got, err)
		}
		if n := cmd.count(); n != 2 {
			t.Errorf("the command ran %d times after Refresh, want 2", n)
		}
		e.useToken(ctx, cfgWith(), "")
	})

	t.Run("az JSON, re-run when it expires", func(t *testing.T) {
		tok := e.srv.Emulator.IssueToken(testUser, time.Hour)
		e.secret("access token", tok)
		// Old az: expiresOn in local time; this one is about to expire.
		soon := time.Now().Add(30 * time.Second).Format("2006-01-02 15:04:05.000000")
		cmd.prints(fmt.Sprintf(`{"accessToken": %q, "expiresOn": %q, "subscription": "x", "tenant": "t", "tokenType": "Bearer"}`, tok, soon))
		src, err := auth.NewTokenSource(ctx, cfgWith())
		if err != nil {
			t.Fatal(err)
		}
		before := cmd.count()
		for i := 0; i < 2; i++ {
			if got, err := src.Token(ctx); err != nil || got != tok {
				t.Fatalf("Token = %q, %v", got, err)
			}
		}
		if n := cmd.count() - before; n != 1 {
			t.Errorf("30 s before expiry the token was reused %d times... ran %d, want 1 (the margin is half the lifetime)", 2-n, n)
		}
		// New az: expires_on in Unix seconds, already past: every Token runs it.
		cmd.prints(fmt.Sprintf(`{"accessToken": %q, "expiresOn": "2000-01-01 00:00:00.000000", "expires_on": %d, "tokenType": "Bearer"}`,
			tok, time.Now().Add(-time.Minute).Unix()))
		src, err = auth.NewTokenSource(ctx, cfgWith())
		if err != nil {
			t.Fatal(err)
		}
		before = cmd.count()
		for i := 0; i < 2; i++ {
			if _, err := src.Token(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := cmd.count() - before; n != 2 {
			t.Errorf("an expired token was reused: the command ran %d times for 2 calls", n)
		}
	})

	t.Run("failure", func(t *testing.T) {
		cfg := e.config()
		cfg.TokenCommand = "echo 'ERROR: Please run az login to setup account. eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' >&2; exit 1"
		src, err := auth.NewTokenSource(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Token(ctx)
		if err == nil || !strings.Contains(err.Error(), "Please run az login") || strings.Contains(err.Error(), "eyJhbGciOiJIUzI1NiJ9") {
			t.Fatalf("Token = %v, want the command's message with the token-like text hidden", err)
		}
	})

	t.Run("login and whoami", func(t *testing.T) {
		cmd.prints(e.srv.Emulator.IssueToken(testUser, time.Hour))
		var out syncBuffer
		if err := auth.Login(ctx, cfgWith(), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "The token command works") {
			t.Errorf("Login: %s", out.String())
		}
		var who syncBuffer
		if err := auth.Whoami(ctx, cfgWith(), &who); err != nil {
			t.Fatal(err)
		}
		if w := whoami(who.String()); w["account"] != "token command" || w["sign-in"] != "token command" || w["mailbox"] != "me" {
			t.Errorf("Whoami:\n%s", who.String())
		}
	})
}
