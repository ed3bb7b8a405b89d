package auth

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/outlookfs/outlookfs/graph"
)

// appCredential builds the confidential client's credential: the secret, or
// the certificate and its key (PEM; the key in CertFile or KeyFile).
func appCredential(c *Config) (confidential.Credential, error) {
	if c.secret != "" {
		cred, err := confidential.NewCredFromSecret(c.secret)
		if err != nil {
			return confidential.Credential{}, fmt.Errorf("auth: client secret: %w", err)
		}
		return cred, nil
	}
	pemData, err := os.ReadFile(c.CertFile)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth: certificate: %w", err)
	}
	if c.KeyFile != "" {
		key, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return confidential.Credential{}, fmt.Errorf("auth: certificate key: %w", err)
		}
		pemData = append(append(pemData, '\n'), key...)
	}
	certs, key, err := confidential.CertFromPEM(pemData, "")
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth: certificate %s: %w (a PEM certificate and an unencrypted private key are needed)", c.CertFile, err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth: certificate %s: %w", c.CertFile, err)
	}
	return cred, nil
}

// newConfidentialClient builds the MSAL confidential client for app-only sign-in.
// Its tokens stay in memory (MSAL's own cache): an app token opens every
// mailbox, and the credentials to get another are at hand, so none is written
// to disk.
func newConfidentialClient(c *Config) (confidential.Client, error) {
	cred, err := appCredential(c)
	if err != nil {
		return confidential.Client{}, err
	}
	hc, err := c.NewHTTPClient()
	if err != nil {
		return confidential.Client{}, err
	}
	authority := c.AuthorityURL()
	cc, err := confidential.New(authority, c.ClientID, cred,
		confidential.WithHTTPClient(hc),
		confidential.WithInstanceDiscovery(isMicrosoftAuthority(authority)),
	)
	if err != nil {
		return confidential.Client{}, &SignInError{Op: "set up app-only sign-in", Description: firstSentence(err.Error())}
	}
	return cc, nil
}

// appSource is the app-only TokenSource (client credentials; MSAL caches the token).
type appSource struct {
	client  confidential.Client
	scopes  []string
	profile string
	log     *slog.Logger
}

var _ graph.TokenSource = (*appSource)(nil)

func (s *appSource) Token(ctx context.Context) (string, error) {
	res, err := s.client.AcquireTokenByCredential(ctx, s.scopes)
	if err != nil {
		err = translate(ctx, "app-only sign-in", s.profile, err)
		s.log.Debug("auth: app-only token failed", "profile", s.profile, "err", err)
		return "", err
	}
	s.log.Debug("auth: app-only token", "profile", s.profile, "expires", res.ExpiresOn.Format(time.RFC3339))
	return res.AccessToken, nil
}

// Refresh asks the identity provider again, bypassing MSAL's cached token.
func (s *appSource) Refresh(ctx context.Context) (string, error) {
	res, err := s.client.AcquireTokenByCredential(ctx, s.scopes, confidential.WithClaims(forceRefreshClaims(time.Now())))
	if err != nil {
		err = translate(ctx, "app-only sign-in", s.profile, err)
		s.log.Debug("auth: app-only token refresh failed", "profile", s.profile, "err", err)
		return "", err
	}
	s.log.Debug("auth: app-only token refreshed", "profile", s.profile, "expires", res.ExpiresOn.Format(time.RFC3339))
	return res.AccessToken, nil
}
