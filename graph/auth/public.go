package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/outlookfs/outlookfs/graph"
)

// newPublicClient builds the MSAL public client for c (Load done), with the
// file token cache under the state directory.
func newPublicClient(c *Config) (public.Client, *fileCache, error) {
	fc, err := newFileCache(c.cacheDir(), c.logger())
	if err != nil {
		return public.Client{}, nil, err
	}
	hc, err := c.NewHTTPClient()
	if err != nil {
		return public.Client{}, nil, err
	}
	authority := c.AuthorityURL()
	pc, err := public.New(c.ClientID,
		public.WithAuthority(authority),
		public.WithCache(fc),
		public.WithHTTPClient(hc),
		public.WithInstanceDiscovery(isMicrosoftAuthority(authority)),
	)
	if err != nil {
		return public.Client{}, nil, &SignInError{Op: "set up sign-in", Description: firstSentence(err.Error())}
	}
	return pc, fc, nil
}

// pickAccount returns the profile's account from the cache: the one signed in
// against this authority's host, else the only one.
func pickAccount(ctx context.Context, c *Config, pc public.Client) (public.Account, error) {
	accts, err := pc.Accounts(ctx)
	if err != nil {
		return public.Account{}, fmt.Errorf("auth: read token cache: %w", err)
	}
	if len(accts) == 0 {
		return public.Account{}, &loginRequiredError{profile: c.Profile, never: true}
	}
	host := hostOf(c.AuthorityURL())
	for _, a := range accts {
		if strings.EqualFold(a.Environment, host) {
			return a, nil
		}
	}
	return accts[0], nil
}

// forceRefreshClaims asks for an access token issued from now on: MSAL skips
// its cached access token when claims are given and redeems the refresh token
// (the claims request is the one Continuous Access Evaluation uses).
func forceRefreshClaims(now time.Time) string {
	return `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(now.Unix(), 10) + `"}}}`
}

// userSource is the delegated TokenSource: MSAL's silent acquisition with the
// cached account (the refresh token renews access tokens as they expire).
type userSource struct {
	client  public.Client
	account public.Account
	scopes  []string
	profile string
	log     *slog.Logger

	refreshMu   sync.Mutex
	lastRefresh time.Time // when Refresh last got a new token
	lastToken   string
}

var _ graph.TokenSource = (*userSource)(nil)

func (s *userSource) Token(ctx context.Context) (string, error) {
	res, err := s.client.AcquireTokenSilent(ctx, s.scopes, public.WithSilentAccount(s.account))
	if err != nil {
		err = translate(ctx, "get a token", s.profile, err)
		s.log.Debug("auth: silent token acquisition failed", "profile", s.profile, "err", err)
		return "", err
	}
	s.log.Debug("auth: token", "profile", s.profile, "expires", res.ExpiresOn.Format(time.RFC3339))
	return res.AccessToken, nil
}

// Refresh gets a new access token with the refresh token, never the cached one.
// Several 401s at once (requests in flight when a token died) share one refresh.
func (s *userSource) Refresh(ctx context.Context) (string, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if s.lastToken != "" && time.Since(s.lastRefresh) < refreshShareWindow {
		return s.lastToken, nil
	}
	res, err := s.client.AcquireTokenSilent(ctx, s.scopes,
		public.WithSilentAccount(s.account), public.WithClaims(forceRefreshClaims(time.Now())))
	if err != nil {
		err = translate(ctx, "refresh the token", s.profile, err)
		s.log.Debug("auth: token refresh failed", "profile", s.profile, "err", err)
		return "", err
	}
	s.lastRefresh, s.lastToken = time.Now(), res.AccessToken
	s.log.Debug("auth: token refreshed", "profile", s.profile, "expires", res.ExpiresOn.Format(time.RFC3339))
	return res.AccessToken, nil
}

// refreshShareWindow: a Refresh this soon after another returns its token.
const refreshShareWindow = 2 * time.Second
