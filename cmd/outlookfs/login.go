package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/outlookfs/outlookfs/graph/auth"
)

// runLogin is `outlookfs login`: sign a profile in (device code by default,
// --browser for the browser flow; app-only credentials and token commands are
// checked).
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg, verbose := authFlagSet("login", stderr,
		"usage: outlookfs login [--profile P] [--client-id ID] [--tenant T] [--browser] [flags]\n\n"+
			"Signs in with a device code (open the printed page on any device and enter the code),\n"+
			"or with --browser through a browser on this machine. See docs/signing-in.md.")
	fs.BoolVar(&cfg.Browser, "browser", false, "sign in through a browser on this machine instead of a device code")
	if err := parseAuthFlags(fs, args); err != nil {
		return err
	}
	cfg.Logger = authLogger(stderr, *verbose)
	return auth.Login(ctx, cfg, stdout)
}

// runLogout is `outlookfs logout`: forget a profile's sign-in.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg, verbose := authFlagSet("logout", stderr, "usage: outlookfs logout [--profile P]")
	if err := parseAuthFlags(fs, args); err != nil {
		return err
	}
	cfg.Logger = authLogger(stderr, *verbose)
	return auth.Logout(ctx, cfg, stdout)
}

// runWhoami is `outlookfs whoami`: who a profile signs in as and which mailbox it opens.
func runWhoami(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg, verbose := authFlagSet("whoami", stderr, "usage: outlookfs whoami [--profile P] [flags]")
	if err := parseAuthFlags(fs, args); err != nil {
		return err
	}
	cfg.Logger = authLogger(stderr, *verbose)
	return auth.Whoami(ctx, cfg, stdout)
}

// authFlagSet is the flag set of a sign-in command: every auth.Config flag and -v.
func authFlagSet(name string, stderr io.Writer, usage string) (*flag.FlagSet, *auth.Config, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &auth.Config{}
	cfg.RegisterFlags(fs)
	verbose := fs.Bool("v", false, "log what happens (debug) on stderr; never tokens or secrets")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	return fs, cfg, verbose
}

func parseAuthFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Not echoed: it could be a secret given by mistake.
		return fmt.Errorf("unexpected argument (the client secret is read from --client-secret-file or $%s, never from the command line)", auth.EnvClientSecret)
	}
	return nil
}

// authLogger logs warnings on stderr, or everything with -v.
func authLogger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}
