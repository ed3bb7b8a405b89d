package auth

import (
	"bufio"
	"strings"
	"testing"
)

func TestUpdateSection(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty file", "", "[work]\nclient-id = abc\ntenant = contoso\n"},
		{"other sections kept", "client-id = global\n\n[home]\nmailbox = me\n",
			"client-id = global\n\n[home]\nmailbox = me\n\n[work]\nclient-id = abc\ntenant = contoso\n"},
		{"section updated in place", "# mine\n[work]\nclient-id = old\nmailbox = x@y\n[home]\ntenant = t\n",
			"# mine\n[work]\nmailbox = x@y\nclient-id = abc\ntenant = contoso\n[home]\ntenant = t\n"},
	}
	for _, tt := range tests {
		got := updateSection(tt.text, "work", map[string]string{"client-id": "abc", "tenant": "contoso"})
		if got != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
		// and what it writes reads back
		vals, err := parseConfig("config", bufio.NewScanner(strings.NewReader(got)), "work")
		if err != nil || vals["client-id"] != "abc" || vals["tenant"] != "contoso" {
			t.Errorf("%s: reads back %v, %v", tt.name, vals, err)
		}
	}
}
