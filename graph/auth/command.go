package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// commandSource runs a command (sh -c) that prints an access token, and keeps
// the token until shortly before it expires; Refresh runs the command again.
type commandSource struct {
	command string
	log     *slog.Logger
	now     func() time.Time

	mu        sync.Mutex
	token     string
	expires   time.Time // zero: unknown (kept until Refresh)
	refreshAt time.Time
}

var _ graph.TokenSource = (*commandSource)(nil)

// commandTimeout bounds one run of the token command when ctx has no deadline.
const commandTimeout = 2 * time.Minute

func (s *commandSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && (s.refreshAt.IsZero() || s.now().Before(s.refreshAt)) {
		return s.token, nil
	}
	return s.run(ctx)
}

func (s *commandSource) Refresh(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run(ctx)
}

func (s *commandSource) run(ctx context.Context) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commandTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", s.command)
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = 1<<20, 4<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := s.now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("auth: token command: %w", ctx.Err())
		}
		msg := redactTokens(firstSentence(stderr.String()))
		if msg != "" {
			return "", fmt.Errorf("auth: token command failed (%v): %s", err, msg)
		}
		return "", fmt.Errorf("auth: token command failed: %w", err)
	}
	tok, exp, err := parseCommandOutput(stdout.Bytes(), s.now)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, exp
	s.refreshAt = time.Time{}
	if !exp.IsZero() {
		// Run again a little before expiry: 2 minutes, or half the lifetime if shorter.
		margin := 2 * time.Minute
		if life := exp.Sub(started); life/2 < margin {
			margin = life / 2
		}
		s.refreshAt = exp.Add(-margin)
	}
	if exp.IsZero() {
		s.log.Debug("auth: token command gave a token (expiry unknown)")
	} else {
		s.log.Debug("auth: token command gave a token", "expires", exp.Format(time.RFC3339))
	}
	return tok, nil
}

// parseCommandOutput accepts a bare token (a JWT's exp claim gives its expiry)
// or JSON with accessToken/access_token and expires_on (Unix seconds, number or
// string), expiresOn (`az`'s local "2006-01-02 15:04:05.000000") or expires_in.
func parseCommandOutput(out []byte, now func() time.Time) (string, time.Time, error) {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "", time.Time{}, errors.New("auth: the token command printed nothing")
	}
	if s[0] != '{' {
		if strings.ContainsAny(s, " \t\r\n") {
			return "", time.Time{}, errors.New("auth: the token command must print one token (or JSON with accessToken)")
		}
		return s, jwtExpiry(s), nil
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", time.Time{}, errors.New("auth: the token command printed JSON that does not parse")
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			var x string
			if raw, ok := v[k]; ok && json.Unmarshal(raw, &x) == nil && x != "" {
				return x
			}
		}
		return ""
	}
	num := func(keys ...string) (int64, bool) {
		for _, k := range keys {
			raw, ok := v[k]
			if !ok {
				continue
			}
			var n json.Number
			if json.Unmarshal(raw, &n) == nil {
				if i, err := n.Int64(); err == nil {
					return i, true
				}
			}
			var x string
			if json.Unmarshal(raw, &x) == nil {
				if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
					return i, true
				}
			}
		}
		return 0, false
	}
	tok := str("accessToken", "access_token", "token")
	if tok == "" {
		return "", time.Time{}, errors.New("auth: the token command's JSON has no accessToken")
	}
	var exp time.Time
	if n, ok := num("expires_on", "expiresOn"); ok {
		exp = time.Unix(n, 0)
	} else if e := str("expiresOn", "expires_on"); e != "" {
		for _, layout := range []string{"2006-01-02 15:04:05.999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999"} {
			if t, err := time.ParseInLocation(layout, e, time.Local); err == nil {
				exp = t
				break
			}
		}
	} else if n, ok := num("expires_in", "expiresIn"); ok {
		exp = now().Add(time.Duration(n) * time.Second)
	}
	if exp.IsZero() {
		exp = jwtExpiry(tok)
	}
	return tok, exp, nil
}

// jwtExpiry reads a JWT's exp claim without checking anything; zero if it has none.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil {
		return time.Time{}
	}
	n, err := c.Exp.Int64()
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// jwtClaims reads a JWT's payload without checking anything (for whoami).
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}(\.[A-Za-z0-9_-]*){0,2}`)

// redactTokens hides anything shaped like a JWT.
func redactTokens(s string) string { return jwtLike.ReplaceAllString(s, "[token]") }

// limitedBuffer keeps at most limit bytes and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}
