package auth

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearEnv empties every OUTLOOKFS_ variable and points HOME and the XDG
// directories into a temporary directory.
func clearEnv(t *testing.T) string {
	t.Helper()
	for _, s := range (&Config{}).settings() {
		t.Setenv(envName(s.name), "")
	}
	t.Setenv(EnvClientSecret, "")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	return home
}

func writeConfig(t *testing.T, dir, text string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDefaults(t *testing.T) {
	home := clearEnv(t)
	c := &Config{ClientID: "id"}
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"profile":   "default",
		"tenant":    "organizations",
		"cloud":     "global",
		"graph":     "https://graph.microsoft.com/v1.0",
		"authority": "https://login.microsoftonline.com/organizations",
		"state":     filepath.Join(home, ".local/state/outlookfs/default"),
		"config":    filepath.Join(home, ".config/outlookfs"),
	}
	got := map[string]string{
		"profile": c.Profile, "tenant": c.Tenant, "cloud": c.Cloud, "graph": c.GraphURL,
		"authority": c.AuthorityURL(), "state": c.StateDir, "config": c.ConfigDir,
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
	if c.mode() != modeUser || !isMicrosoftAuthority(c.AuthorityURL()) {
		t.Errorf("mode %v, discovery %v", c.mode(), isMicrosoftAuthority(c.AuthorityURL()))
	}
	if s := c.delegatedScopes(); len(s) != 2 || s[0] != "https://graph.microsoft.com/Mail.ReadWrite" || s[1] != "https://graph.microsoft.com/Calendars.ReadWrite" {
		t.Errorf("scopes %v", s)
	}
	for _, s := range c.delegatedScopes() {
		if s == "offline_access" || s == "openid" || s == "profile" {
			t.Errorf("scope %s must be left to MSAL", s)
		}
	}
}

func TestLoadXDG(t *testing.T) {
	clearEnv(t)
	x := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(x, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(x, "cfg"))
	c := &Config{ClientID: "id", Profile: "work"}
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	if c.StateDir != filepath.Join(x, "state/outlookfs/work") || c.ConfigDir != filepath.Join(x, "cfg/outlookfs") {
		t.Errorf("state %s config %s", c.StateDir, c.ConfigDir)
	}
	if c.cachePath() != filepath.Join(x, "state/outlookfs/work/auth/msal-cache.json") {
		t.Errorf("cache %s", c.cachePath())
	}
}

func TestClouds(t *testing.T) {
	tests := []struct {
		cloud, authority, scope string
		uploads                 bool
	}{
		{"usgov-l4", "https://login.microsoftonline.us/organizations", "https://graph.microsoft.us/.default", false},
		{"usgov-l5", "https://login.microsoftonline.us/organizations", "https://dod-graph.microsoft.us/.default", false},
		{"china", "https://login.chinacloudapi.cn/organizations", "https://microsoftgraph.chinacloudapi.cn/.default", true},
	}
	for _, tt := range tests {
		t.Run(tt.cloud, func(t *testing.T) {
			clearEnv(t)
			c := &Config{ClientID: "id", Cloud: tt.cloud}
			if err := c.Load(); err != nil {
				t.Fatal(err)
			}
			if c.AuthorityURL() != tt.authority || c.appScopes()[0] != tt.scope || c.GraphCloud().UploadSessions != tt.uploads {
				t.Errorf("authority %s scope %s uploads %v", c.AuthorityURL(), c.appScopes()[0], c.GraphCloud().UploadSessions)
			}
			if !isMicrosoftAuthority(c.AuthorityURL()) {
				t.Error("instance discovery off for a Microsoft host")
			}
		})
	}
}

// Flags win over the environment, which wins over the profile's section,
// which wins over the file's global lines.
func TestPrecedence(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	writeConfig(t, dir, `# outlookfs
client-id = from-file-global
tenant = global-tenant
mailbox = global@x.test

[work]
tenant = "work-tenant"
mailbox = work@x.test
graph-url = https://graph.file.test/v1.0

[other]
tenant = other-tenant
`)
	t.Setenv("OUTLOOKFS_MAILBOX", "env@x.test")
	t.Setenv("OUTLOOKFS_GRAPH_URL", "https://graph.env.test/v1.0/")

	c := &Config{}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--profile", "work", "--config-dir", dir, "--graph-url", "https://graph.flag.test/v1.0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{
		{c.ClientID, "from-file-global"},
		{c.Tenant, "work-tenant"},
		{c.Mailbox, "env@x.test"},
		{c.GraphURL, "https://graph.flag.test/v1.0"},
	} {
		if kv[0] != kv[1] {
			t.Errorf("got %q, want %q", kv[0], kv[1])
		}
	}

	// An explicitly empty flag beats the environment too.
	c = &Config{}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config-dir", dir, "--mailbox="}); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	if c.Mailbox != "" || c.Tenant != "global-tenant" || c.Profile != "default" {
		t.Errorf("mailbox %q tenant %q profile %q", c.Mailbox, c.Tenant, c.Profile)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"client-secret = hunter2\n", "client-secret-file"},
		{"colour = blue\n", `unknown setting "colour"`},
		{"[work\nx = y\n", "section"},
		{"just words\n", "key = value"},
		{"[]\n", "empty section"},
		{"state-dir = /x\n", "[profile] section"},
	}
	for _, tt := range tests {
		_, err := parseConfig("config", bufio.NewScanner(strings.NewReader(tt.text)), "work")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.text, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		env  map[string]string
		want string
	}{
		{"no client id", Config{}, nil, "no client id"},
		{"bad profile", Config{ClientID: "x", Profile: "../x"}, nil, "profile"},
		{"bad cloud", Config{ClientID: "x", Cloud: "mars"}, nil, "unknown cloud"},
		{"http authority", Config{ClientID: "x", Authority: "http://login.test/t"}, nil, "https"},
		{"http graph", Config{ClientID: "x", GraphURL: "http://graph.test/v1.0"}, nil, "https"},
		{"app without mailbox", Config{ClientID: "x"}, map[string]string{EnvClientSecret: "s"}, "--mailbox"},
		{"app with me", Config{ClientID: "x", Mailbox: "ME"}, map[string]string{EnvClientSecret: "s"}, "--mailbox"},
		{"app without client id", Config{Mailbox: "a@b"}, map[string]string{EnvClientSecret: "s"}, "client id"},
		{"secret and cert", Config{ClientID: "x", Mailbox: "a@b", CertFile: "c.pem"}, map[string]string{EnvClientSecret: "s"}, "not both"},
		{"command and secret", Config{TokenCommand: "true"}, map[string]string{EnvClientSecret: "s"}, "exclude"},
		{"key without cert", Config{ClientID: "x", KeyFile: "k.pem"}, nil, "key-file needs cert-file"},
		{"missing secret file", Config{ClientID: "x", Mailbox: "a@b", ClientSecretFile: "/nonexistent/secret"}, nil, "client secret file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := tt.c
			c.ConfigDir = t.TempDir()
			err := c.Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\"s\"") {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "client-secret-file = "+file+"\n")
	load := func(c *Config) string {
		t.Helper()
		c.ClientID, c.Mailbox, c.ConfigDir = "x", "a@b.test", dir
		if err := c.Load(); err != nil {
			t.Fatal(err)
		}
		if c.mode() != modeApp {
			t.Fatalf("mode %v", c.mode())
		}
		return c.secret
	}
	if s := load(&Config{}); s != "from-file" {
		t.Errorf("config file's secret file: %q", s)
	}
	t.Setenv(EnvClientSecret, "from-env")
	if s := load(&Config{}); s != "from-env" {
		t.Errorf("the environment should beat the config file: %q", s)
	}
	c := &Config{}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--client-secret-file", file}); err != nil {
		t.Fatal(err)
	}
	if s := load(c); s != "from-file" {
		t.Errorf("the flag should beat the environment: %q", s)
	}
	if fs.Lookup("client-secret") != nil {
		t.Error("a --client-secret flag would put the secret in argv")
	}
}

func TestAuthorityURL(t *testing.T) {
	tests := []struct {
		authority, tenant, want string
		discovery               bool
	}{
		{"https://login.microsoftonline.com", "contoso.onmicrosoft.com", "https://login.microsoftonline.com/contoso.onmicrosoft.com", true},
		{"https://login.microsoftonline.com/", "common", "https://login.microsoftonline.com/common", true},
		{"https://127.0.0.1:8443/outlookfs-emulator", "organizations", "https://127.0.0.1:8443/outlookfs-emulator", false},
		{"https://127.0.0.1:8443/outlookfs-emulator/", "ignored", "https://127.0.0.1:8443/outlookfs-emulator", false},
		{"https://idp.example.com", "t1", "https://idp.example.com/t1", false},
	}
	for _, tt := range tests {
		c := &Config{Authority: tt.authority, Tenant: tt.tenant}
		if got := c.AuthorityURL(); got != tt.want {
			t.Errorf("AuthorityURL(%s, %s) = %s, want %s", tt.authority, tt.tenant, got, tt.want)
		}
		if got := isMicrosoftAuthority(c.AuthorityURL()); got != tt.discovery {
			t.Errorf("instance discovery for %s = %v", tt.authority, got)
		}
	}
}
