package spool

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const testUPN = "writer@outlookfs.test"

// emu is the emulator with one mailbox and a draft, and a real graph client.
type emu struct {
	srv    *graphtest.Server
	mb     *graphtest.Mailbox
	client *graph.Client
	tokens *refreshingTokens
	draft  graph.ItemRef
}

func startEmu(t testing.TB, opts graphtest.Options) *emu {
	t.Helper()
	srv := graphtest.StartT(t, opts)
	mb := srv.Emulator.AddMailbox(testUPN)
	tokens := &refreshingTokens{e: srv.Emulator, upn: testUPN, tok: mb.Token()}
	client, err := graph.New(graph.Config{
		BaseURL: srv.GraphURL, Tokens: tokens, HTTPClient: srv.HTTPClient(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &emu{srv: srv, mb: mb, client: client, tokens: tokens,
		draft: graph.ItemRef{Kind: graph.KindMessage, ID: mb.AddDraft("spool test")}}
}

// attachmentsNamed returns the draft's attachments with that name.
func (e *emu) attachmentsNamed(item graph.ItemRef, name string) []graphtest.StoredAttachment {
	var out []graphtest.StoredAttachment
	for _, a := range e.mb.Attachments(item.ID) {
		if a.Name == name {
			out = append(out, a)
		}
	}
	return out
}

// mustHaveOnce checks that exactly one attachment has the name and the bytes.
func (e *emu) mustHaveOnce(t testing.TB, item graph.ItemRef, name string, data []byte) {
	t.Helper()
	atts := e.attachmentsNamed(item, name)
	if len(atts) != 1 {
		t.Fatalf("%d attachments named %q, want exactly 1", len(atts), name)
	}
	if !bytes.Equal(atts[0].Data, data) {
		t.Fatalf("attachment %q: %d bytes differ from the file's %d", name, len(atts[0].Data), len(data))
	}
}

// refreshingTokens hands out the mailbox's token and gets a new one from
// the emulator on Refresh (as MSAL would after a 401).
type refreshingTokens struct {
	e         *graphtest.Emulator
	upn       string
	mu        sync.Mutex
	tok       string
	refreshes int
}

func (r *refreshingTokens) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tok, nil
}

func (r *refreshingTokens) Refresh(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tok = r.e.IssueToken(r.upn, 0)
	r.refreshes++
	return r.tok, nil
}

func (r *refreshingTokens) revoke() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.e.RevokeToken(r.tok)
}

func (r *refreshingTokens) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshes
}
