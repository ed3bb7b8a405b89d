package auth

import "flag"

// RegisterFlags adds the sign-in and mailbox flags to fs, bound to c. A flag
// given on the command line wins over the environment and the config file.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	usage := map[string]string{
		"profile":            "sign-in profile: one account and one mount each (default \"default\"; env OUTLOOKFS_PROFILE)",
		"cloud":              "Microsoft cloud: global, usgov-l4, usgov-l5 or china (default global)",
		"authority":          "sign-in authority URL, overriding the cloud's (https://host or https://host/tenant)",
		"client-id":          "application (client) id of your app registration",
		"tenant":             "tenant: organizations, common, a tenant id or domain (default organizations)",
		"graph-url":          "Graph base URL incl. /v1.0, overriding the cloud's",
		"mailbox":            "mailbox to open: me (default) or user@domain (required for app-only sign-in)",
		"client-secret-file": "file holding the app's client secret, for app-only sign-in (or env " + EnvClientSecret + ")",
		"cert-file":          "PEM certificate (and key) for app-only sign-in",
		"key-file":           "PEM private key for cert-file, if not in it",
		"token-command":      "command (run with sh -c) printing an access token, e.g. 'az account get-access-token --resource-type ms-graph'",
		"state-dir":          "directory of the profile's token cache and spool (default $XDG_STATE_HOME/outlookfs/PROFILE)",
		"config-dir":         "directory of the config file (default $XDG_CONFIG_HOME/outlookfs)",
		"ca-file":            "extra trusted CA certificates (PEM), e.g. the emulator's",
	}
	for _, s := range c.settings() {
		fs.Var(&stringSetting{c: c, name: s.name, p: s.p}, s.name, usage[s.name])
	}
}

// stringSetting is a string flag that records that it was given.
type stringSetting struct {
	c    *Config
	name string
	p    *string
}

func (s *stringSetting) String() string {
	if s == nil || s.p == nil {
		return ""
	}
	return *s.p
}

func (s *stringSetting) Set(v string) error {
	*s.p = v
	if s.c.set == nil {
		s.c.set = map[string]bool{}
	}
	s.c.set[s.name] = true
	return nil
}
