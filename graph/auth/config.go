package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/outlookfs/outlookfs/graph"
)

// Config says how to sign in and which mailbox to open. Fields left empty are
// filled by Load from the environment, the config file and defaults; fields
// set (by a flag from RegisterFlags, or by code) win.
type Config struct {
	// Profile names one sign-in (one account, one mount) among several. Default "default".
	Profile string
	// Cloud is global, usgov-l4, usgov-l5 or china. Default global.
	Cloud string
	// Authority overrides the cloud's sign-in host: either a base URL
	// (https://login.example) to which Tenant is appended, or a full authority
	// with the tenant in its path (https://127.0.0.1:PORT/TENANT, as the emulator
	// prints). Instance discovery stays on only for Microsoft's hosts.
	Authority string
	// ClientID is the application (client) id of the app registration.
	ClientID string
	// Tenant is common, organizations, a tenant id or a domain. Default organizations.
	Tenant string
	// GraphURL overrides the cloud's Graph base URL (incl. /v1.0).
	GraphURL string
	// Mailbox is "" or "me" for the signed-in user's mailbox, or a UPN
	// (/users/{upn}): a shared mailbox, or any mailbox for app-only sign-in.
	Mailbox string
	// ClientSecretFile holds the app's client secret (app-only sign-in). The
	// secret may instead come from $OUTLOOKFS_CLIENT_SECRET; never from an argument.
	ClientSecretFile string
	// CertFile is a PEM certificate (with its key, or with KeyFile) for app-only sign-in.
	CertFile, KeyFile string
	// TokenCommand is run with sh -c whenever a token is needed; it prints an
	// access token, bare or as `az account get-access-token` JSON.
	TokenCommand string
	// StateDir holds the profile's token cache (and the spool). Default
	// $XDG_STATE_HOME/outlookfs/<profile>.
	StateDir string
	// ConfigDir holds the config file ("config"). Default $XDG_CONFIG_HOME/outlookfs.
	ConfigDir string
	// CAFile adds trusted CA certificates (PEM) for the identity provider and
	// Graph, e.g. the emulator's. Used when HTTPClient is nil.
	CAFile string
	// HTTPClient talks to the identity provider. Nil: a client with the system
	// roots (plus CAFile).
	HTTPClient *http.Client
	// Logger gets debug lines; never a token or a secret. Nil: slog.Default().
	Logger *slog.Logger
	// Browser makes Login use the interactive browser flow instead of the device code.
	Browser bool
	// OpenURL opens the sign-in page in the browser flow. Nil: print the URL and
	// try xdg-open (open on macOS).
	OpenURL func(url string) error

	set    map[string]bool // settings given explicitly (flags)
	loaded bool
	secret string // resolved client secret (never printed)
	cloud  graph.Cloud
}

// Environment variables; each setting NAME has OUTLOOKFS_NAME (dashes as underscores).
const (
	EnvPrefix       = "OUTLOOKFS_"
	EnvClientSecret = "OUTLOOKFS_CLIENT_SECRET"
)

// Defaults.
const (
	DefaultProfile = "default"
	DefaultTenant  = "organizations"
)

// settings lists the string settings in the order of the flags: name (flag,
// config key, env suffix) and where the value lives.
func (c *Config) settings() []struct {
	name string
	p    *string
} {
	return []struct {
		name string
		p    *string
	}{
		{"profile", &c.Profile},
		{"cloud", &c.Cloud},
		{"authority", &c.Authority},
		{"client-id", &c.ClientID},
		{"tenant", &c.Tenant},
		{"graph-url", &c.GraphURL},
		{"mailbox", &c.Mailbox},
		{"client-secret-file", &c.ClientSecretFile},
		{"cert-file", &c.CertFile},
		{"key-file", &c.KeyFile},
		{"token-command", &c.TokenCommand},
		{"state-dir", &c.StateDir},
		{"config-dir", &c.ConfigDir},
		{"ca-file", &c.CAFile},
	}
}

func envName(setting string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}

var profileRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load fills what was not set from the environment, then the profile's section
// of the config file, then defaults, and checks the result. It is idempotent;
// Login, Logout, Whoami and NewTokenSource call it.
func (c *Config) Load() error {
	if c.loaded {
		return nil
	}
	getenv := os.Getenv
	given := func(name string, p *string) bool { return c.set[name] || *p != "" }
	fromEnv := map[string]bool{}
	for _, s := range c.settings() {
		if !given(s.name, s.p) {
			if v := getenv(envName(s.name)); v != "" {
				*s.p = v
				fromEnv[s.name] = true
			}
		}
	}
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
	if !profileRe.MatchString(c.Profile) || c.Profile == "." || c.Profile == ".." {
		return fmt.Errorf("auth: profile %q: use letters, digits, '.', '_' and '-' only", c.Profile)
	}
	if c.ConfigDir == "" {
		d, err := xdgDir(getenv, "XDG_CONFIG_HOME", ".config")
		if err != nil {
			return err
		}
		c.ConfigDir = filepath.Join(d, "outlookfs")
	}
	file, err := readConfigFile(filepath.Join(c.ConfigDir, "config"), c.Profile)
	if err != nil {
		return err
	}
	for _, s := range c.settings() {
		if !given(s.name, s.p) && !fromEnv[s.name] {
			if v, ok := file[s.name]; ok {
				*s.p = v
			}
		}
	}

	if c.StateDir == "" {
		d, err := xdgDir(getenv, "XDG_STATE_HOME", filepath.Join(".local", "state"))
		if err != nil {
			return err
		}
		c.StateDir = filepath.Join(d, "outlookfs", c.Profile)
	}
	if c.Tenant == "" {
		c.Tenant = DefaultTenant
	}
	if c.cloud, err = graph.LookupCloud(c.Cloud); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	c.Cloud = c.cloud.Name
	if c.GraphURL == "" {
		c.GraphURL = c.cloud.GraphURL
	}
	c.GraphURL = strings.TrimRight(c.GraphURL, "/")
	if err := checkHTTPS("graph-url", c.GraphURL); err != nil {
		return err
	}
	if c.Authority == "" {
		c.Authority = c.cloud.Authority
	}
	if err := checkHTTPS("authority", c.Authority); err != nil {
		return err
	}
	if strings.EqualFold(c.Mailbox, "me") {
		c.Mailbox = ""
	}

	// The client secret: a file given by flag or its own variable, else
	// $OUTLOOKFS_CLIENT_SECRET, else a file named in the config file.
	secretFileExplicit := c.set["client-secret-file"] || fromEnv["client-secret-file"]
	if v := getenv(EnvClientSecret); v != "" && !secretFileExplicit {
		c.secret = strings.TrimSpace(v)
		c.ClientSecretFile = ""
	} else if c.ClientSecretFile != "" {
		if c.secret, err = readSecretFile(c.ClientSecretFile, c.logger()); err != nil {
			return err
		}
	}
	if c.KeyFile != "" && c.CertFile == "" {
		return errors.New("auth: key-file needs cert-file")
	}

	switch c.mode() {
	case modeCommand:
		if c.secret != "" || c.CertFile != "" {
			return errors.New("auth: token-command and app credentials (client secret or certificate) exclude each other")
		}
	case modeApp:
		if c.ClientID == "" {
			return errors.New("auth: app-only sign-in needs the app's client id (--client-id)")
		}
		if c.Mailbox == "" {
			return errors.New("auth: app-only sign-in cannot use /me: give the mailbox to open (--mailbox user@domain)")
		}
		if c.secret != "" && c.CertFile != "" {
			return errors.New("auth: give a client secret or a certificate, not both")
		}
	case modeUser:
		if c.ClientID == "" {
			return errors.New("auth: no client id: register an app (see docs/signing-in.md) and give its id with --client-id, " +
				envName("client-id") + " or client-id in " + filepath.Join(c.ConfigDir, "config"))
		}
	}
	c.loaded = true
	return nil
}

func checkHTTPS(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("auth: %s %q is not a URL", name, s)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("auth: %s %q must use https", name, s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("auth: %s %q must not have a query, fragment or user", name, s)
	}
	return nil
}

// xdgDir returns $name, else $HOME/fallback.
func xdgDir(getenv func(string) string, name, fallback string) (string, error) {
	if d := getenv(name); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("auth: no $%s and no home directory: %w", name, err)
		}
		home = h
	}
	return filepath.Join(home, fallback), nil
}

func readSecretFile(path string, log *slog.Logger) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("auth: client secret file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("auth: the client secret file is readable by other users; chmod 600 it", "path", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth: client secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("auth: client secret file %s is empty", path)
	}
	return s, nil
}

type mode int

const (
	modeUser    mode = iota // delegated: MSAL public client, device code or browser
	modeApp                 // app-only: MSAL confidential client, secret or certificate
	modeCommand             // a command prints the token
)

func (m mode) String() string {
	switch m {
	case modeApp:
		return "app-only"
	case modeCommand:
		return "token command"
	}
	return "user"
}

func (c *Config) mode() mode {
	switch {
	case c.TokenCommand != "":
		return modeCommand
	case c.secret != "" || c.CertFile != "":
		return modeApp
	}
	return modeUser
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// AuthorityURL is the full authority MSAL uses: the authority with the tenant
// appended unless it already has a path. Valid after Load.
func (c *Config) AuthorityURL() string {
	u, err := url.Parse(c.Authority)
	if err == nil && strings.Trim(u.Path, "/") != "" {
		return strings.TrimRight(c.Authority, "/")
	}
	return strings.TrimRight(c.Authority, "/") + "/" + url.PathEscape(c.Tenant)
}

// microsoftHosts are the identity platform's own hosts, where MSAL's instance
// discovery works; elsewhere (the emulator, a private endpoint) it is turned off.
func isMicrosoftAuthority(authority string) bool {
	u, err := url.Parse(authority)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
		"login.microsoftonline.us", "login.usgovcloudapi.net",
		"login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
		"login.microsoftonline.de":
		return true
	}
	return false
}

// GraphCloud returns the cloud with the Graph URL in force (valid after Load):
// graph.Client's base URL, and whether upload sessions exist.
func (c *Config) GraphCloud() graph.Cloud {
	cl := c.cloud
	cl.GraphURL = c.GraphURL
	return cl
}

// delegatedScopes are the permissions outlookfs asks a user for. MSAL adds
// openid, profile and offline_access itself; passing them breaks it.
func (c *Config) delegatedScopes() []string {
	return []string{c.cloud.Scope("Mail.ReadWrite"), c.cloud.Scope("Calendars.ReadWrite")}
}

// appScopes is the app-only scope: every application permission granted.
func (c *Config) appScopes() []string {
	return []string{c.cloud.Scope(".default")}
}

func (c *Config) cacheDir() string  { return filepath.Join(c.StateDir, "auth") }
func (c *Config) cachePath() string { return filepath.Join(c.cacheDir(), "msal-cache.json") }
