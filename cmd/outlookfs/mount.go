package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/outlookfs/outlookfs/cache"
	"github.com/outlookfs/outlookfs/fs"
	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/spool"
)

// mountConfig is everything a mount needs, from flags (mount) or from the demo.
type mountConfig struct {
	Mountpoint  string
	Profile     string
	GraphURL    string
	Mailbox     string
	TokenFile   string
	Auth        auth.Config
	Async       bool
	EventsBack  time.Duration
	EventsAhead time.Duration
	SpoolMax    int64
	// LandingWindow: how long a POST whose answer was lost may still create its attachment;
	// the spool looks for it that long before sending the file again (spool.Options).
	LandingWindow time.Duration
	// SyncRetry: how long a synchronous close waits through the retries of an upload that
	// keeps failing transiently before it fails with EIO (fs.Options.SyncRetryWindow).
	SyncRetry   time.Duration
	CacheMax    int64
	MaxInFlight int
	Debug       bool
	FuseDebug   bool
	StateDir    string // default $XDG_STATE_HOME/outlookfs/<profile>
	CacheDir    string // default $XDG_CACHE_HOME/outlookfs/<profile>
	// UploadSessions is false in clouds without attachment upload sessions (US Gov):
	// files are then capped below 3 MiB.
	UploadSessions bool

	tokens     graph.TokenSource // set by the caller when not from TokenFile
	httpClient *http.Client
	ready      func() // called once mounted (demo tour)
}

func (c *mountConfig) register(fl *flag.FlagSet) {
	c.Auth.RegisterFlags(fl)
	fl.StringVar(&c.TokenFile, "token-file", "", "file holding a bearer token to use as is (instead of signing in)")
	fl.BoolVar(&c.Async, "async", false, "return from close once the file is safely in the spool; upload in the background")
	fl.DurationVar(&c.EventsBack, "events-back", 30*24*time.Hour, "show events that started up to this long ago")
	fl.DurationVar(&c.EventsAhead, "events-ahead", 365*24*time.Hour, "show events starting up to this far ahead")
	fl.Int64Var(&c.SpoolMax, "spool-max", 4<<30, "most bytes the spool may hold (writes past it fail with ENOSPC)")
	fl.DurationVar(&c.LandingWindow, "landing-window", spool.DefaultLandingWindow,
		"after a crash or a lost answer, how long to look for the attachment an unanswered POST may still create before sending the file again (raise it on a slow uplink)")
	fl.DurationVar(&c.SyncRetry, "sync-retry", fs.DefaultSyncRetryWindow,
		"without --async, how long a close waits through the retries of an upload that keeps failing (network, 5xx, throttling) before it fails with EIO and attaches nothing")
	fl.Int64Var(&c.CacheMax, "cache-max", 1<<30, "most bytes of attachment content kept in the cache")
	fl.IntVar(&c.MaxInFlight, "max-in-flight", 4, "requests in flight to Graph at once (Outlook allows 4 per mailbox)")
	fl.BoolVar(&c.Debug, "debug", false, "log at debug level")
	fl.BoolVar(&c.FuseDebug, "fuse-debug", false, "log every FUSE request")
	c.UploadSessions = true
}

func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c mountConfig
	fl := flag.NewFlagSet("mount", flag.ContinueOnError)
	fl.SetOutput(stderr)
	c.register(fl)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: outlookfs mount MOUNTPOINT [flags]")
		fl.PrintDefaults()
	}
	var err error
	if c.Mountpoint, err = mountpointArg(fl, args); err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit keeps the daemon small: Badger allocates a throw-away buffer for every
		// 4 MiB chunk it writes, and without a limit the heap holds on to them for a while
		// (measured: peaks of 66 MiB instead of 56 MiB with four 150 MiB uploads).
		debug.SetMemoryLimit(48 << 20)
	}
	c.Auth.Logger = newLogger(stderr, c.Debug).With("component", "auth")
	if c.TokenFile != "" {
		// A token file is a token command that reads it: it is read again whenever Graph
		// refuses the token, so another program may keep the file fresh.
		if c.Auth.TokenCommand != "" {
			return errors.New("give --token-file or --token-command, not both")
		}
		c.Auth.TokenCommand = "cat " + q(c.TokenFile)
	}
	if err := c.Auth.Load(); err != nil {
		return err
	}
	if err := c.fromAuth(ctx); err != nil {
		return err
	}
	return mountAndServe(ctx, c, stderr)
}

// fromAuth takes the mailbox, Graph URL, cloud, state directory, HTTP client and token source
// from the loaded sign-in configuration.
func (c *mountConfig) fromAuth(ctx context.Context) error {
	cloud := c.Auth.GraphCloud()
	c.Profile, c.GraphURL, c.Mailbox, c.UploadSessions = c.Auth.Profile, cloud.GraphURL, c.Auth.Mailbox, cloud.UploadSessions
	c.StateDir = c.Auth.StateDir
	hc, err := c.Auth.NewHTTPClient()
	if err != nil {
		return err
	}
	c.httpClient = graphHTTPClient(hc)
	ts, err := auth.NewTokenSource(ctx, &c.Auth)
	if err != nil {
		return err
	}
	c.tokens = ts
	return nil
}

// mountpointArg parses the flags and returns the one positional argument, the mountpoint.
func mountpointArg(fl *flag.FlagSet, args []string) (string, error) {
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		fl.Usage()
		return "", errors.New("give exactly one mountpoint")
	}
	return pos[0], nil
}

// parseInterspersed parses flags given before, between or after positional arguments, so
// "mount DIR --async" works as well as "mount --async DIR". It returns the positional ones.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func xdgDir(env, fallback, profile string) string {
	base := os.Getenv(env)
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, fallback)
	}
	return filepath.Join(base, "outlookfs", profile)
}

// mountAndServe mounts and serves until ctx ends (SIGINT/SIGTERM) or the mount goes away.
func mountAndServe(ctx context.Context, c mountConfig, stderr io.Writer) error {
	log := newLogger(stderr, c.Debug)
	if c.Profile == "" {
		c.Profile = auth.DefaultProfile
	}
	if c.StateDir == "" {
		c.StateDir = xdgDir("XDG_STATE_HOME", ".local/state", c.Profile)
	}
	if c.CacheDir == "" {
		c.CacheDir = xdgDir("XDG_CACHE_HOME", ".cache", c.Profile)
	}
	client, err := graph.New(graph.Config{
		BaseURL: c.GraphURL, Mailbox: c.Mailbox, Tokens: c.tokens, HTTPClient: c.httpClient,
		MaxInFlight: c.MaxInFlight, Logger: log.With("component", "graph"),
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	cc, err := cache.OpenOrReset(cache.Options{Dir: c.CacheDir, MaxBytes: c.CacheMax, Logger: log.With("component", "cache")})
	if err != nil {
		return fmt.Errorf("open the cache: %w", err)
	}
	defer cc.Close()

	sp, err := spool.Open(ctx, spool.Options{
		Dir: filepath.Join(c.StateDir, "spool"), Uploader: client, Logger: log,
		MaxBytes: c.SpoolMax, MaxFileSize: maxFileSize(c), LandingWindow: c.LandingWindow,
		Content: cc, // what we upload is cached: reading it back asks Graph for nothing
	})
	if err != nil {
		return fmt.Errorf("open the spool (is another outlookfs using profile %q?): %w", c.Profile, err)
	}
	defer sp.Close()

	mailbox := c.Mailbox
	if mailbox == "" {
		mailbox = "me"
	}
	fsys := fs.New(fs.Options{
		Backend: client, Spool: sp, Cache: cc, Logger: log.With("component", "fs"),
		Async: c.Async, EventsBack: c.EventsBack, EventsAhead: c.EventsAhead,
		MaxFileSize: maxFileSize(c), TooBigReason: tooBigReason(c), SyncRetryWindow: c.SyncRetry,
		Describe: mailbox + " at " + c.GraphURL,
	})
	server, err := fs.Mount(c.Mountpoint, fsys, fs.MountOptions{Debug: c.FuseDebug})
	if err != nil {
		return err
	}
	log.Info("mounted", "mountpoint", c.Mountpoint, "mailbox", mailbox, "async", c.Async)
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	if c.ready != nil {
		go c.ready()
	}
	select {
	case <-done:
		log.Info("unmounted from outside")
		return nil
	case <-ctx.Done():
	}
	log.Info("unmounting; files already closed are safe in the spool and resume on the next mount")
	if err := server.Unmount(); err != nil {
		log.Warn("the mount is busy: detaching it now, and giving the programs still using it a while to finish their files", "err", err, "grace", shutdownGrace)
		_ = syscall.Unmount(c.Mountpoint, syscall.MNT_DETACH)
	}
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("stopping with files still open: what they wrote and did not close is not attached (never a half-written file)")
	}
	return nil
}

// shutdownGrace is how long SIGINT/SIGTERM waits for programs still writing into a busy mount.
const shutdownGrace = 30 * time.Second

func maxFileSize(c mountConfig) int64 {
	if !c.UploadSessions {
		return graph.MinUploadSessionSize - 1
	}
	return graph.MaxAttachmentSize
}

func tooBigReason(c mountConfig) string {
	if !c.UploadSessions {
		return "this cloud has no attachment upload sessions, so attachments must be under 3 MiB"
	}
	return "Outlook attachments are limited to 150 MB"
}

// graphHTTPClient is the HTTP client of Graph requests, trusting what the sign-in's client
// trusts (a --ca-file): the graph package's default, with its bounded dial, handshake and
// response-header times (a server that never answers fails the request, and a synchronous close
// with it, instead of hanging it) and no redirects followed with the Authorization header. It
// has no overall timeout: downloads and uploads of large attachments take longer than any; Graph
// requests are bounded by their contexts and the client's retry limits instead.
func graphHTTPClient(signIn *http.Client) *http.Client {
	gc := graph.DefaultHTTPClient(graph.DefaultMaxInFlight)
	st, ok := signIn.Transport.(*http.Transport)
	gt, gok := gc.Transport.(*http.Transport)
	if !ok || !gok {
		// Not a transport we can read the trusted roots from: use it as it is.
		c := *signIn
		c.Timeout = 0
		return &c
	}
	if st.TLSClientConfig != nil && st.TLSClientConfig.RootCAs != nil {
		gt.TLSClientConfig = gt.TLSClientConfig.Clone()
		gt.TLSClientConfig.RootCAs = st.TLSClientConfig.RootCAs
	}
	return gc
}
