package auth

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

func jwtWith(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2lnbmF0dXJl"
}

func TestParseCommandOutput(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	jwt := jwtWith(`{"exp":1700003600,"upn":"a@b.test"}`)
	local := time.Unix(1_700_001_800, 0).In(time.Local).Format("2006-01-02 15:04:05.000000")
	tests := []struct {
		name, out string
		tok       string
		exp       time.Time
		err       string
	}{
		{"bare", "opaque-token\n", "opaque-token", time.Time{}, ""},
		{"bare JWT", "  " + jwt + "\n", jwt, time.Unix(1700003600, 0), ""},
		{"az old", fmt.Sprintf(`{"accessToken":"T1","expiresOn":%q,"tokenType":"Bearer"}`, local), "T1", time.Unix(1_700_001_800, 0), ""},
		{"az new", `{"accessToken":"T2","expiresOn":"2023-11-14 23:00:00.000000","expires_on":1700009999}`, "T2", time.Unix(1700009999, 0), ""},
		{"expires_on string", `{"access_token":"T3","expires_on":"1700000100"}`, "T3", time.Unix(1700000100, 0), ""},
		{"expires_in", `{"access_token":"T4","expires_in":3599}`, "T4", now.Add(3599 * time.Second), ""},
		{"JSON, JWT exp", `{"accessToken":"` + jwt + `"}`, jwt, time.Unix(1700003600, 0), ""},
		{"empty", "\n", "", time.Time{}, "printed nothing"},
		{"two words", "token here", "", time.Time{}, "one token"},
		{"bad JSON", `{"accessToken":`, "", time.Time{}, "does not parse"},
		{"no token", `{"expires_on":1}`, "", time.Time{}, "no accessToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, exp, err := parseCommandOutput([]byte(tt.out), clock)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "accessToken\":") {
					t.Errorf("the error quotes the output: %v", err)
				}
				return
			}
			if err != nil || tok != tt.tok || !exp.Equal(tt.exp) {
				t.Fatalf("= %q, %v, %v; want %q, %v", tok, exp, err, tt.tok, tt.exp)
			}
		})
	}
}

func TestRedactTokens(t *testing.T) {
	jwt := jwtWith(`{"exp":1}`)
	s := redactTokens("failed with " + jwt + " at x")
	if strings.Contains(s, jwt[:20]) || !strings.Contains(s, "failed with [token] at x") {
		t.Errorf("redactTokens = %q", s)
	}
}

func TestTokenWho(t *testing.T) {
	got := tokenWho(jwtWith(`{"exp":1700003600,"upn":"a@b.test"}`))
	if !strings.HasPrefix(got, " (token for a@b.test, valid until ") {
		t.Errorf("tokenWho = %q", got)
	}
	if tokenWho("opaque") != "" {
		t.Error("tokenWho of an opaque token")
	}
}
