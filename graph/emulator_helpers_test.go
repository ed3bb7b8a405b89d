package graph

import (
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const testUPN = "alice@outlookfs.test"

// emu is an emulator on TLS with one mailbox and a client for it through /me.
type emu struct {
	srv    *graphtest.Server
	e      *graphtest.Emulator
	mb     *graphtest.Mailbox
	c      *Client
	logs   *logBuffer
	tokens *countingTokens
}

// startEmu starts the emulator (opts tuned by mutOpts) and a client (tuned by mutCfg).
func startEmu(t *testing.T, opts graphtest.Options, mutCfg func(*Config)) *emu {
	t.Helper()
	if opts.RetryAfter == "" {
		opts.RetryAfter = "0.05"
	}
	srv := graphtest.StartT(t, opts)
	mb := srv.Emulator.AddMailbox(testUPN)
	x := &emu{srv: srv, e: srv.Emulator, mb: mb, logs: &logBuffer{}, tokens: &countingTokens{tok: mb.Token()}}
	x.tokens.next = func(int) string { return x.e.IssueToken(testUPN, time.Hour) }
	cfg := Config{BaseURL: srv.GraphURL, Tokens: x.tokens, HTTPClient: srv.HTTPClient(), Logger: debugLogger(x.logs)}
	if mutCfg != nil {
		mutCfg(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.retry.baseBackoff = 2 * time.Millisecond
	c.retry.maxBackoff = 20 * time.Millisecond
	x.c = c
	return x
}

// requestsUntil polls the emulator's request log until ok accepts it (the
// emulator records a request just after answering it, so the last record can
// trail the client by a moment, longer on a loaded machine) and returns the log;
// after a minute it returns the log as it is, for the caller's check to fail on.
func (x *emu) requestsUntil(ok func([]graphtest.RequestRecord) bool) []graphtest.RequestRecord {
	deadline := time.Now().Add(time.Minute)
	for {
		rs := x.e.Requests()
		if ok(rs) || time.Now().After(deadline) {
			return rs
		}
		time.Sleep(5 * time.Millisecond)
	}
}
