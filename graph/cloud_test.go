package graph

import (
	"net/url"
	"strings"
	"testing"
)

func TestLookupCloud(t *testing.T) {
	tests := []struct {
		name                          string
		graphURL, authority, scopeHst string
		uploadSessions                bool
	}{
		{"global", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com", "graph.microsoft.com", true},
		{"", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com", "graph.microsoft.com", true},
		{"usgov-l4", "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us", "graph.microsoft.us", false},
		{"USGov-L5", "https://dod-graph.microsoft.us/v1.0", "https://login.microsoftonline.us", "dod-graph.microsoft.us", false},
		{"china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LookupCloud(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if c.GraphURL != tt.graphURL || c.Authority != tt.authority || c.GraphScopeHost != tt.scopeHst || c.UploadSessions != tt.uploadSessions {
				t.Errorf("LookupCloud(%q) = %+v", tt.name, c)
			}
			// The scope host is the Graph URL's host, so a token is always for the Graph it is sent to.
			u, err := url.Parse(c.GraphURL)
			if err != nil || u.Host != c.GraphScopeHost || u.Path != "/v1.0" {
				t.Errorf("GraphURL %q does not match scope host %q", c.GraphURL, c.GraphScopeHost)
			}
			if got, want := c.Scope("Mail.ReadWrite"), "https://"+tt.scopeHst+"/Mail.ReadWrite"; got != want {
				t.Errorf("Scope = %q, want %q", got, want)
			}
		})
	}
}

func TestLookupCloudUnknown(t *testing.T) {
	_, err := LookupCloud("mars")
	if err == nil {
		t.Fatal("no error for an unknown cloud")
	}
	for _, n := range []string{"mars", "global", "usgov-l4", "usgov-l5", "china"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not mention %q", err, n)
		}
	}
}
