package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The config file ($XDG_CONFIG_HOME/outlookfs/config) is key = value lines,
// keys named as the flags; lines before any [section] apply to every profile,
// lines in [PROFILE] to that profile and override them. # starts a comment.
//
//	client-id = 0c5f...
//
//	[work]
//	tenant = contoso.onmicrosoft.com
//
//	[shared]
//	mailbox = team@contoso.com
//	cert-file = /etc/outlookfs/app.pem
func readConfigFile(path, profile string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	defer f.Close()
	return parseConfig(f.Name(), bufio.NewScanner(f), profile)
}

func parseConfig(name string, sc *bufio.Scanner, profile string) (map[string]string, error) {
	known := map[string]bool{}
	for _, s := range (&Config{}).settings() {
		known[s.name] = true
	}
	delete(known, "profile")
	delete(known, "config-dir")

	global, mine := map[string]string{}, map[string]string{}
	section := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("auth: %s:%d: a section is written [name]", name, n)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if section == "" {
				return nil, fmt.Errorf("auth: %s:%d: empty section name", name, n)
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("auth: %s:%d: expected key = value", name, n)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		switch {
		case k == "client-secret":
			return nil, fmt.Errorf("auth: %s:%d: put the secret in a file of its own (client-secret-file) or in $%s", name, n, EnvClientSecret)
		case !known[k]:
			return nil, fmt.Errorf("auth: %s:%d: unknown setting %q", name, n, k)
		}
		switch section {
		case "":
			if k == "state-dir" {
				return nil, fmt.Errorf("auth: %s:%d: state-dir is one profile's directory: put it in a [profile] section", name, n)
			}
			global[k] = v
		case profile:
			mine[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: config file %s: %w", name, err)
	}
	for k, v := range mine {
		global[k] = v
	}
	return global, nil
}

// rememberable are the settings `outlookfs login` writes into the profile's section of the
// config file when they were given as flags, so that mount, whoami and logout need not repeat them.
var rememberable = []string{"cloud", "authority", "client-id", "tenant", "graph-url", "mailbox", "ca-file"}

// remember saves the rememberable settings given on the command line in the profile's section
// of the config file (created 0600 in a 0700 directory), replacing older values of those keys
// and keeping every other line. It returns the names it saved.
func (c *Config) remember() ([]string, error) {
	values := map[string]string{}
	for _, s := range c.settings() {
		for _, r := range rememberable {
			if s.name == r && c.set[r] && *s.p != "" {
				values[r] = *s.p
			}
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	path := filepath.Join(c.ConfigDir, "config")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	text := updateSection(string(old), c.Profile, values)
	if err := os.MkdirAll(c.ConfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: config directory: %w", err)
	}
	tmp, err := os.CreateTemp(c.ConfigDir, ".config-*")
	if err != nil {
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("auth: config file: %w", err)
	}
	names := make([]string, 0, len(values))
	for _, r := range rememberable {
		if _, ok := values[r]; ok {
			names = append(names, r)
		}
	}
	return names, nil
}

// updateSection sets keys in [section] of a config file's text (adding the section at the end
// when it is missing) and leaves every other line as it was.
func updateSection(text, section string, values map[string]string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	var out []string
	in, found := false, false
	pending := map[string]string{}
	for k, v := range values {
		pending[k] = v
	}
	flush := func() {
		for _, k := range rememberable {
			if v, ok := pending[k]; ok {
				out = append(out, k+" = "+v)
				delete(pending, k)
			}
		}
	}
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			if in {
				flush()
			}
			in = strings.TrimSpace(t[1:len(t)-1]) == section
			found = found || in
			out = append(out, line)
			continue
		}
		if in {
			if k, _, ok := strings.Cut(t, "="); ok {
				if _, replace := values[strings.ToLower(strings.TrimSpace(k))]; replace {
					continue // written again by flush
				}
			}
		}
		out = append(out, line)
	}
	if in {
		flush()
	}
	if !found {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, "["+section+"]")
		flush()
	}
	return strings.Join(out, "\n") + "\n"
}
