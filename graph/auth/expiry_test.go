package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const wantExpired = "sign-in expired for profile test: run `outlookfs login --profile test`"

// A revoked or expired refresh token gives one clear error, from the token
// source and through the Graph client alike.
func TestRefreshTokenGone(t *testing.T) {
	tests := []struct {
		name string
		kill func(*graphtest.IdP)
	}{
		{"revoked", func(p *graphtest.IdP) {
			if p.RevokeSessions(testUser) == 0 {
				panic("no refresh token to revoke")
			}
		}},
		{"expired", (*graphtest.IdP).ExpireRefreshTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A token announced for 5 minutes is never cached: every call needs the refresh token.
			e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{ExpiresIn: 5 * time.Minute, DevicePendingPolls: -1})
			ctx := ctxT(t)
			e.login(ctx)
			e.useToken(ctx, e.config(), "")
			tt.kill(e.idp)

			src := e.tokenSource(ctx)
			_, err := src.Token(ctx)
			if !errors.Is(err, auth.ErrLoginRequired) || err.Error() != wantExpired {
				t.Fatalf("Token = %v, want %q", err, wantExpired)
			}
			_, err = src.Refresh(ctx)
			if !errors.Is(err, auth.ErrLoginRequired) || err.Error() != wantExpired {
				t.Fatalf("Refresh = %v, want %q", err, wantExpired)
			}
			// Through the Graph client: the one sentence, no HTTP error stack from the IdP.
			_, err = e.graphClient(src, "").ListDrafts(ctx)
			if !errors.Is(err, auth.ErrLoginRequired) || !strings.HasSuffix(err.Error(), wantExpired) ||
				strings.Contains(err.Error(), "http call") || strings.Contains(err.Error(), "AADSTS") {
				t.Fatalf("ListDrafts = %v", err)
			}
			e.checkText("the error", err.Error())
			var who bytes.Buffer
			if err := auth.Whoami(ctx, e.config(), &who); !errors.Is(err, auth.ErrLoginRequired) {
				t.Fatalf("Whoami = %v", err)
			}
		})
	}
}

// Graph refuses a token MSAL still trusts (revoked, or expired early): the 401
// makes the client Refresh, and the refresh token is gone too.
func TestRefreshAfter401WithRevokedSession(t *testing.T) {
	e := newEnv(t, graphtest.Options{}, graphtest.IdPOptions{DevicePendingPolls: -1})
	ctx := ctxT(t)
	e.login(ctx)
	src := e.tokenSource(ctx)
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Emulator.RevokeToken(tok)
	e.idp.RevokeSessions(testUser)
	_, err = e.graphClient(src, "").ListDrafts(ctx)
	// The Graph client reports the 401 it got and why the refresh failed.
	if !errors.Is(err, auth.ErrLoginRequired) || !strings.Contains(err.Error(), wantExpired) ||
		strings.Contains(err.Error(), "http call") || strings.Contains(err.Error(), "AADSTS") {
		t.Fatalf("ListDrafts = %v", err)
	}
	e.checkText("the error", err.Error())
}

// An access token that expires in the middle of a large upload does not fail
// the upload. The emulator's clock jumps past the token's life (and past the
// upload session's) after the first range: the next PUT finds the session
// gone, the client asks for a new session with the dead token, Graph answers
// 401, the client refreshes through MSAL, and the upload completes.
func TestTokenExpiresDuringLargeUpload(t *testing.T) {
	clk := &clock{}
	e := newEnv(t,
		graphtest.Options{Now: clk.Now, SessionLifetime: 15 * time.Minute, MessageSizeLimit: 64 << 20},
		// Tokens live 20 minutes at Graph but are announced for an hour, so MSAL
		// keeps handing out the cached one: only a 401 can reveal it is dead.
		graphtest.IdPOptions{TokenTTL: 20 * time.Minute, ExpiresIn: time.Hour, DevicePendingPolls: -1})
	ctx := ctxT(t)
	e.login(ctx)
	src := e.tokenSource(ctx)
	c := e.graphClient(src, "")
	d, err := c.CreateDraft(ctx, "large upload")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 10<<20+12345)
	_, _ = rand.Read(data)
	refreshesBefore := count(e.grants(), "refresh_token")

	var once sync.Once
	var sessions int
	id, err := c.Upload(ctx, graph.ItemRef{Kind: graph.KindMessage, ID: d.ID},
		graph.NewAttachment{Name: "big.bin", ContentType: "application/octet-stream", Size: int64(len(data))},
		bytes.NewReader(data), graph.UploadOptions{
			OnSession: func(s graph.UploadSession) { sessions++; e.uploadQuery(s) },
			Progress: func(confirmed int64) {
				if confirmed > 0 && confirmed < int64(len(data)) {
					once.Do(func() { clk.Advance(21 * time.Minute) })
				}
			},
		})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if sessions < 2 {
		t.Errorf("%d upload sessions: the clock jump did not take effect", sessions)
	}
	var saw401 bool
	for _, r := range e.srv.Emulator.Requests() {
		if r.Status == 401 {
			saw401 = true
		}
	}
	if !saw401 {
		t.Error("Graph never refused the expired token")
	}
	reqs := e.idp.TokenRequests()
	if n := count(e.grants(), "refresh_token") - refreshesBefore; n != 1 || !reqs[len(reqs)-1].Claims {
		t.Errorf("%d refresh_token grants during the upload (last %+v), want 1 forced refresh", n, reqs[len(reqs)-1])
	}
	var got []byte
	for _, a := range e.mb.Attachments(d.ID) {
		if a.ID == id {
			got = a.Data
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("attachment %s holds %d bytes, want the %d uploaded", id, len(got), len(data))
	}
	// The refreshed token keeps working for what follows.
	if _, err := c.ListAttachments(context.Background(), graph.ItemRef{Kind: graph.KindMessage, ID: d.ID}); err != nil {
		t.Fatalf("ListAttachments after the upload: %v", err)
	}
	e.requireSecrets("RefreshToken", "access token", "upload URL query")
}
