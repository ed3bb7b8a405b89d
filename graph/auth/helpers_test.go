package auth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/auth"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

const testUser = "alice@outlookfs.test"

// logBuffer collects every log line, at every level, for the secret scan; syncBuffer is an
// io.Writer safe for a writer and a reader at once.
type (
	logBuffer  = graphtest.LogBuffer
	syncBuffer = graphtest.LogBuffer
)

// testEnv is the emulator with its identity provider over TLS, one mailbox,
// a private state and config directory, and a debug log.
type testEnv struct {
	t        *testing.T
	srv      *graphtest.Server
	idp      *graphtest.IdP
	mb       *graphtest.Mailbox
	logs     *logBuffer
	log      *slog.Logger
	stateDir string
	cfgDir   string

	mu      sync.Mutex
	secrets map[string]string // value -> what it is, none of which may be logged
}

// clock is an adjustable clock for the emulator (not the IdP, not MSAL).
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func newEnv(t *testing.T, eopts graphtest.Options, iopts graphtest.IdPOptions) *testEnv {
	t.Helper()
	// Nothing from the machine running the tests may leak in.
	for _, k := range []string{"PROFILE", "CLOUD", "AUTHORITY", "CLIENT_ID", "TENANT", "GRAPH_URL", "MAILBOX",
		"CLIENT_SECRET", "CLIENT_SECRET_FILE", "CERT_FILE", "KEY_FILE", "TOKEN_COMMAND", "STATE_DIR", "CONFIG_DIR", "CA_FILE"} {
		t.Setenv("OUTLOOKFS_"+k, "")
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eopts.Logger = log
	if iopts.User == "" {
		iopts.User = testUser
	}
	dir := t.TempDir()
	srv, err := graphtest.Start(eopts, graphtest.ServerOptions{CAFile: filepath.Join(dir, "ca.pem"), IdP: iopts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	idp := srv.IdP
	mb := srv.Emulator.AddMailbox(iopts.User)
	e := &testEnv{
		t: t, srv: srv, idp: idp, mb: mb, logs: logs, log: log,
		stateDir: filepath.Join(dir, "state", "outlookfs", "test"),
		cfgDir:   filepath.Join(dir, "config"),
		secrets:  map[string]string{},
	}
	t.Cleanup(e.checkLogs)
	return e
}

// config is what a fresh `outlookfs` process would build from its flags.
func (e *testEnv) config() *auth.Config {
	return &auth.Config{
		Profile:    "test",
		Authority:  e.srv.Authority(),
		ClientID:   graphtest.DefaultClientID,
		GraphURL:   e.srv.GraphURL,
		StateDir:   e.stateDir,
		ConfigDir:  e.cfgDir,
		HTTPClient: e.srv.HTTPClient(),
		Logger:     e.log,
	}
}

// secret records a value no log line may contain.
func (e *testEnv) secret(what, v string) {
	if v == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets[v] = what
}

// cacheSecrets records every secret in the token cache file.
func (e *testEnv) cacheSecrets() {
	b, err := os.ReadFile(filepath.Join(e.stateDir, "auth", "msal-cache.json"))
	if err != nil {
		return
	}
	var c map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		e.t.Errorf("token cache is not JSON: %v", err)
		return
	}
	for kind, entries := range c {
		for _, ent := range entries {
			if s, ok := ent["secret"].(string); ok {
				e.secret(kind, s)
			}
		}
	}
}

// checkLogs fails the test if a log line holds a token, a refresh token, a
// client secret or an upload URL's query.
func (e *testEnv) checkLogs() {
	e.cacheSecrets()
	logs := e.logs.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for v, what := range e.secrets {
		if strings.Contains(logs, v) {
			e.t.Errorf("a log line contains a %s", what)
		}
	}
	if testing.Verbose() {
		e.t.Logf("%d log bytes checked against %d secrets", len(logs), len(e.secrets))
	}
}

// checkText fails if s holds a recorded secret (error messages, output).
func (e *testEnv) checkText(where, s string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for v, what := range e.secrets {
		if strings.Contains(s, v) {
			e.t.Errorf("%s contains a %s", where, what)
		}
	}
}

// graphClient is a graph.Client on the emulator with tokens from src.
// tokenSource is the profile's token source, as a mount gets it after login.
func (e *testEnv) tokenSource(ctx context.Context) graph.TokenSource {
	e.t.Helper()
	src, err := auth.NewTokenSource(ctx, e.config())
	if err != nil {
		e.t.Fatal(err)
	}
	return src
}

func (e *testEnv) graphClient(src graph.TokenSource, mailbox string) *graph.Client {
	e.t.Helper()
	c, err := graph.New(graph.Config{
		BaseURL:    e.srv.GraphURL,
		Mailbox:    mailbox,
		Tokens:     &recordingSource{TokenSource: src, env: e},
		HTTPClient: e.srv.HTTPClient(),
		Logger:     e.log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// recordingSource records every token it hands out as a secret.
type recordingSource struct {
	graph.TokenSource
	env *testEnv
}

func (r *recordingSource) Token(ctx context.Context) (string, error) {
	t, err := r.TokenSource.Token(ctx)
	r.env.secret("access token", t)
	return t, err
}

func (r *recordingSource) Refresh(ctx context.Context) (string, error) {
	t, err := r.TokenSource.Refresh(ctx)
	r.env.secret("access token", t)
	return t, err
}

// uploadQuery records an upload URL's query as a secret.
func (e *testEnv) uploadQuery(s graph.UploadSession) {
	if u, err := url.Parse(s.URL); err == nil && u.RawQuery != "" {
		e.secret("upload URL query", u.RawQuery)
	}
}

// grants returns the IdP's answered requests as "grant" or "grant:error".
func (e *testEnv) grants() []string {
	var out []string
	for _, r := range e.idp.TokenRequests() {
		s := r.Grant
		if r.Error != "" {
			s += ":" + r.Error
		}
		out = append(out, s)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// login signs the test user in through the device code flow.
func (e *testEnv) login(ctx context.Context) string {
	e.t.Helper()
	var out syncBuffer
	if err := auth.Login(ctx, e.config(), &out); err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	e.cacheSecrets()
	return out.String()
}

// whoami parses Whoami's "key:  value" lines.
func whoami(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// requireSecrets fails unless secrets of each kind were recorded, so the log
// scan has something to look for.
func (e *testEnv) requireSecrets(kinds ...string) {
	e.t.Helper()
	e.cacheSecrets()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range kinds {
		found := false
		for _, what := range e.secrets {
			found = found || what == k
		}
		if !found {
			e.t.Errorf("no %s recorded for the log scan", k)
		}
	}
}
