package auth

import (
	"context"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// NewTokenSource returns the token source cfg describes (Load is called):
//   - a token command (--token-command): run on demand, its token kept until it expires;
//   - app-only (client secret or certificate): MSAL's confidential client, for --mailbox;
//   - otherwise the signed-in user from `outlookfs login`: MSAL's silent
//     acquisition with the cached account. No account gives ErrLoginRequired.
//
// Errors from the token source are safe to show: an expired or revoked sign-in is
// ErrLoginRequired (wrapped, saying which command to run), never MSAL's raw text.
func NewTokenSource(ctx context.Context, cfg *Config) (graph.TokenSource, error) {
	if err := cfg.Load(); err != nil {
		return nil, err
	}
	log := cfg.logger()
	switch cfg.mode() {
	case modeCommand:
		return &commandSource{command: cfg.TokenCommand, log: log, now: time.Now}, nil
	case modeApp:
		cc, err := newConfidentialClient(cfg)
		if err != nil {
			return nil, err
		}
		return &appSource{client: cc, scopes: cfg.appScopes(), profile: cfg.Profile, log: log}, nil
	}
	pc, _, err := newPublicClient(cfg)
	if err != nil {
		return nil, err
	}
	acct, err := pickAccount(ctx, cfg, pc)
	if err != nil {
		return nil, err
	}
	return &userSource{client: pc, account: acct, scopes: cfg.delegatedScopes(), profile: cfg.Profile, log: log}, nil
}
