package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/outlookfs/outlookfs/graph/auth"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		ef   emulatorFlags
		tour bool
		c    mountConfig
	)
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	ef.register(fl)
	fl.BoolVar(&tour, "tour", false, "show the mount with a few commands; exit afterwards unless on a terminal")
	fl.BoolVar(&c.Async, "async", false, "return from close once the file is in the spool")
	fl.BoolVar(&c.Debug, "debug", false, "log at debug level")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: outlookfs demo [--tour] MOUNTPOINT\n\nStarts the built-in Graph emulator with a demo mailbox, signs in to it through MSAL\n(device code, approved automatically) and mounts it. Ctrl-C unmounts and exits.")
		fl.PrintDefaults()
	}
	var err error
	if c.Mountpoint, err = mountpointArg(fl, args); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Mountpoint, 0o755); err != nil {
		return err
	}
	srv, idp, _, err := ef.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	work, err := os.MkdirTemp("", "outlookfs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// Sign in exactly as a user would against Microsoft: MSAL, device code, token cache.
	c.Auth = auth.Config{Profile: "demo", Authority: idp.Authority(srv.RootURL), ClientID: idp.ClientID(),
		GraphURL: srv.GraphURL, CAFile: srv.CAFile, StateDir: filepath.Join(work, "state"), ConfigDir: filepath.Join(work, "config"),
		Logger: newLogger(stderr, c.Debug).With("component", "auth")}
	if err := c.Auth.Load(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Signing in to the emulator with a device code (it approves by itself after a few polls):")
	if err := auth.Login(ctx, &c.Auth, stdout); err != nil {
		return err
	}
	if err := c.fromAuth(ctx); err != nil {
		return err
	}
	c.CacheDir = filepath.Join(work, "cache")
	c.MaxInFlight = 4
	c.EventsBack, c.EventsAhead = 30*24*3600e9, 365*24*3600e9
	c.SpoolMax, c.CacheMax = 4<<30, 1<<30

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interactive := isTerminal(os.Stdin)
	c.ready = func() {
		if tour {
			runTour(ctx, c.Mountpoint, stdout)
		}
		if !interactive && tour {
			cancel()
			return
		}
		fmt.Fprintf(stdout, "\nThe demo mailbox is mounted at %s. Try:\n  ls -l %s/drafts/*\n  cp some-file %q\n  getfattr -d -m user.outlookfs %s/drafts/*/*\nPress Ctrl-C to unmount.\n",
			c.Mountpoint, c.Mountpoint, filepath.Join(c.Mountpoint, "drafts", "Quarterly report")+"/", c.Mountpoint)
	}
	return mountAndServe(ctx, c, stderr)
}

// isTerminal reports whether f is a terminal (not merely a character device like /dev/null).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// runTour runs a few real commands against the mount and shows what they print.
func runTour(ctx context.Context, mnt string, out io.Writer) {
	draft := filepath.Join(mnt, "drafts", "Quarterly report")
	note := filepath.Join(os.TempDir(), "outlookfs-demo-note.txt")
	_ = os.WriteFile(note, []byte("Hello from outlookfs: this file was attached by cp.\n"), 0o644)
	steps := []string{
		"ls " + q(filepath.Join(mnt, "drafts")),
		"ls -l " + q(draft),
		"cp " + q(note) + " " + q(draft+"/note.txt") + " && echo 'cp exited 0: the file is attached'",
		"getfattr -d -m user.outlookfs " + q(draft+"/note.txt") + " 2>/dev/null || echo '(getfattr: install the attr package)'",
		"cat " + q(draft+"/note.txt"),
		"head -c 300 " + q(draft+"/Re：budget.eml") + " 2>/dev/null || head -c 300 " + q(draft) + "/*.eml",
		"sha256sum " + q(draft+"/site plan.pdf"),
		"ls " + q(filepath.Join(mnt, "events")),
		"cat " + q(filepath.Join(mnt, ".outlookfs", "status")),
	}
	for _, s := range steps {
		fmt.Fprintf(out, "\n$ %s\n", s)
		cmd := exec.CommandContext(ctx, "sh", "-c", s)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(out, "(%v)\n", err)
		}
	}
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
