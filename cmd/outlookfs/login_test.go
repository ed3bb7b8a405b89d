package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// The sign-in commands against the emulator, driven by flags only, as a user
// would run them with what `outlookfs emulator` prints.
func TestLoginWhoamiLogoutCommands(t *testing.T) {
	for _, k := range []string{"PROFILE", "CLIENT_ID", "AUTHORITY", "GRAPH_URL", "MAILBOX", "CLIENT_SECRET", "TOKEN_COMMAND", "STATE_DIR", "CONFIG_DIR", "CA_FILE", "CLOUD", "TENANT"} {
		t.Setenv("OUTLOOKFS_"+k, "")
	}
	dir := t.TempDir()
	srv, err := graphtest.Start(graphtest.Options{}, graphtest.ServerOptions{
		CAFile: filepath.Join(dir, "ca.pem"), IdP: graphtest.IdPOptions{DevicePendingPolls: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Emulator.AddMailbox(graphtest.DefaultUser)
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	flags := []string{
		"--profile", "emu",
		"--authority", srv.Authority(),
		"--client-id", srv.IdP.ClientID(),
		"--graph-url", srv.GraphURL,
		"--ca-file", srv.CAFile,
		"--config-dir", filepath.Join(dir, "config"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var out, errOut bytes.Buffer
	if err := runLogin(ctx, flags, &out, &errOut); err != nil {
		t.Fatalf("login: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "and enter the code") || !strings.Contains(out.String(), "Signed in as Demo <demo@outlookfs.test> (profile emu).") {
		t.Errorf("login printed:\n%s", out.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("login wrote to stderr:\n%s", errOut.String())
	}
	cache := filepath.Join(dir, "state", "outlookfs", "emu", "auth", "msal-cache.json")
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token cache: %v %v", fi, err)
	}

	out.Reset()
	if err := runWhoami(ctx, flags, &out, &errOut); err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if !strings.Contains(out.String(), "Demo <demo@outlookfs.test>") || !strings.Contains(out.String(), "me (demo@outlookfs.test)") {
		t.Errorf("whoami printed:\n%s", out.String())
	}

	out.Reset()
	if err := runLogout(ctx, flags, &out, &errOut); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("token cache still there: %v", err)
	}
	err = runWhoami(ctx, flags, &out, &errOut)
	if !errors.Is(err, auth.ErrLoginRequired) || !strings.Contains(err.Error(), "run `outlookfs login --profile emu`") {
		t.Errorf("whoami after logout: %v", err)
	}
}

func TestLoginFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if err := runLogin(ctx, []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, f := range []string{"--browser", "--client-secret-file", "--cert-file", "--token-command", "--profile", "--cloud", "--mailbox"} {
		if !strings.Contains(errOut.String(), strings.TrimLeft(f, "-")) {
			t.Errorf("login -h does not list %s", f)
		}
	}
	err := runLogin(ctx, []string{"--client-id", "x", "hunter2"}, &out, &errOut)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a stray argument: %v", err)
	}
	if err := runLogin(ctx, []string{"--client-secret", "hunter2"}, &out, &errOut); err == nil {
		t.Error("--client-secret exists: a secret would be visible in the process list")
	}
}
