package auth

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// Login signs the profile in and stores the result in its token cache:
//   - a user, through the device code flow (prints where to go and the code to
//     enter; works over SSH), or with cfg.Browser the interactive browser flow
//     (a local redirect on http://localhost);
//   - app-only credentials or a token command: checks that a token can be had
//     (nothing is stored for a token command).
func Login(ctx context.Context, cfg *Config, out io.Writer) error {
	if err := cfg.Load(); err != nil {
		return err
	}
	log := cfg.logger()
	switch cfg.mode() {
	case modeCommand, modeApp:
		src, err := NewTokenSource(ctx, cfg)
		if err != nil {
			return err
		}
		tok, err := src.Token(ctx)
		if err != nil {
			return err
		}
		if cfg.mode() == modeCommand {
			fmt.Fprintf(out, "The token command works%s. outlookfs runs it whenever it needs a token; nothing is stored.\n", tokenWho(tok))
		} else {
			fmt.Fprintf(out, "App-only sign-in works for app %s; profile %s opens mailbox %s.\n", cfg.ClientID, cfg.Profile, cfg.Mailbox)
		}
		return nil
	}

	pc, _, err := newPublicClient(cfg)
	if err != nil {
		return err
	}
	scopes := cfg.delegatedScopes()
	var res public.AuthResult
	if cfg.Browser {
		open := cfg.OpenURL
		if open == nil {
			open = defaultOpenURL(out)
		}
		res, err = pc.AcquireTokenInteractive(ctx, scopes,
			public.WithRedirectURI("http://localhost"), public.WithOpenURL(open))
		if err != nil {
			return translateLogin(ctx, "browser sign-in", cfg.Profile, err)
		}
	} else {
		dc, err := pc.AcquireTokenByDeviceCode(ctx, scopes)
		if err != nil {
			return translateLogin(ctx, "device code sign-in", cfg.Profile, err)
		}
		fmt.Fprintln(out, dc.Result.Message)
		res, err = dc.AuthenticationResult(ctx)
		if err != nil {
			return translateLogin(ctx, "device code sign-in", cfg.Profile, err)
		}
	}
	// One profile, one account: forget any other the cache held.
	if accts, err := pc.Accounts(ctx); err == nil {
		for _, a := range accts {
			if a.HomeAccountID != res.Account.HomeAccountID || a.Environment != res.Account.Environment {
				if err := pc.RemoveAccount(ctx, a); err != nil {
					log.Warn("auth: could not forget a previous account", "profile", cfg.Profile, "err", err)
				}
			}
		}
	}
	log.Info("auth: signed in", "profile", cfg.Profile, "account", res.Account.PreferredUsername)
	fmt.Fprintf(out, "Signed in as %s (profile %s).\n", accountName(res.Account, res.IDToken.Name), cfg.Profile)
	saved, err := cfg.remember()
	if err != nil {
		log.Warn("auth: could not save the sign-in settings in the config file; give them again to mount", "err", err)
	} else if len(saved) > 0 {
		fmt.Fprintf(out, "Saved %s for profile %s in %s: mount, whoami and logout use them.\n",
			strings.Join(saved, ", "), cfg.Profile, filepath.Join(cfg.ConfigDir, "config"))
	}
	return nil
}

// translateLogin is translate for an interactive sign-in, where "invalid_grant"
// and friends mean the user did not finish, not that a stored sign-in expired.
func translateLogin(ctx context.Context, op, profile string, err error) error {
	err = translate(ctx, op, profile, err)
	if le, ok := err.(*loginRequiredError); ok {
		return &SignInError{Op: op, Description: "the sign-in was not completed (" + le.Error() + ")"}
	}
	return err
}

// Logout forgets the profile's sign-in: the token cache file goes. App
// credentials and token commands have nothing stored.
func Logout(ctx context.Context, cfg *Config, out io.Writer) error {
	if err := cfg.Load(); err != nil {
		return err
	}
	fc, err := newFileCache(cfg.cacheDir(), cfg.logger())
	if err != nil {
		return err
	}
	if err := fc.remove(ctx); err != nil {
		return err
	}
	cfg.logger().Info("auth: signed out", "profile", cfg.Profile)
	fmt.Fprintf(out, "Signed out of profile %s.\n", cfg.Profile)
	return nil
}

// Whoami prints who the profile signs in as, which mailbox it opens and where;
// it fails with ErrLoginRequired (wrapped) when the sign-in is gone.
func Whoami(ctx context.Context, cfg *Config, out io.Writer) error {
	if err := cfg.Load(); err != nil {
		return err
	}
	mailbox := cfg.Mailbox
	var account string
	switch cfg.mode() {
	case modeCommand:
		src, err := NewTokenSource(ctx, cfg)
		if err != nil {
			return err
		}
		tok, err := src.Token(ctx)
		if err != nil {
			return err
		}
		account = "token command" + tokenWho(tok)
	case modeApp:
		src, err := NewTokenSource(ctx, cfg)
		if err != nil {
			return err
		}
		if _, err := src.Token(ctx); err != nil {
			return err
		}
		account = "app " + cfg.ClientID + " (app-only)"
	default:
		pc, _, err := newPublicClient(cfg)
		if err != nil {
			return err
		}
		acct, err := pickAccount(ctx, cfg, pc)
		if err != nil {
			return err
		}
		res, err := pc.AcquireTokenSilent(ctx, cfg.delegatedScopes(), public.WithSilentAccount(acct))
		if err != nil {
			return translate(ctx, "check the sign-in", cfg.Profile, err)
		}
		account = accountName(res.Account, res.IDToken.Name)
		if res.Account.Realm != "" {
			account += " (tenant " + res.Account.Realm + ")"
		}
		if mailbox == "" {
			mailbox = "me (" + res.Account.PreferredUsername + ")"
		}
	}
	if mailbox == "" {
		mailbox = "me"
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "profile:\t%s\n", cfg.Profile)
	fmt.Fprintf(tw, "account:\t%s\n", account)
	fmt.Fprintf(tw, "mailbox:\t%s\n", mailbox)
	fmt.Fprintf(tw, "graph:\t%s\n", cfg.GraphURL)
	if cfg.mode() != modeCommand {
		fmt.Fprintf(tw, "authority:\t%s\n", cfg.AuthorityURL())
	}
	fmt.Fprintf(tw, "sign-in:\t%s\n", cfg.mode())
	return tw.Flush()
}

func accountName(a public.Account, name string) string {
	if name != "" && a.PreferredUsername != "" {
		return name + " <" + a.PreferredUsername + ">"
	}
	if a.PreferredUsername != "" {
		return a.PreferredUsername
	}
	return a.HomeAccountID
}

// tokenWho describes a token's subject and expiry from its claims, if it is a JWT.
func tokenWho(tok string) string {
	c := jwtClaims(tok)
	if c == nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"upn", "preferred_username", "unique_name", "app_displayname"} {
		if v, ok := c[k].(string); ok && v != "" {
			parts = append(parts, "for "+v)
			break
		}
	}
	if exp := jwtExpiry(tok); !exp.IsZero() {
		parts = append(parts, "valid until "+exp.Local().Format(time.DateTime))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (token " + strings.Join(parts, ", ") + ")"
}
