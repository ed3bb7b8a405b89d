package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
