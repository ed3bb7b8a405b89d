package graph

import (
	"fmt"
	"sort"
	"strings"
)

// Cloud is one Microsoft cloud: where Graph lives, where users sign in, and what
// Graph offers there (graph-protocol.md section 5). Tokens do not cross clouds.
type Cloud struct {
	// Name is the setting's value: global, usgov-l4, usgov-l5 or china.
	Name string
	// GraphURL is Graph's base URL including the version, e.g. https://graph.microsoft.com/v1.0.
	GraphURL string
	// Authority is the sign-in host's base URL without a tenant, e.g. https://login.microsoftonline.com.
	Authority string
	// UploadSessions says whether attachment upload sessions exist. Where they do not,
	// attachments are limited to what one POST carries (under MinUploadSessionSize).
	UploadSessions bool
	// GraphScopeHost is the host scopes are named after, e.g. graph.microsoft.com in
	// https://graph.microsoft.com/Mail.ReadWrite.
	GraphScopeHost string
}

// DefaultCloud is the cloud used when none is configured.
const DefaultCloud = "global"

// knownClouds returns the clouds of graph-protocol.md section 5, in a fresh slice.
func knownClouds() []Cloud {
	return []Cloud{{
		Name:           "global",
		GraphURL:       "https://graph.microsoft.com/v1.0",
		Authority:      "https://login.microsoftonline.com",
		UploadSessions: true,
		GraphScopeHost: "graph.microsoft.com",
	}, {
		Name:           "usgov-l4",
		GraphURL:       "https://graph.microsoft.us/v1.0",
		Authority:      "https://login.microsoftonline.us",
		UploadSessions: false,
		GraphScopeHost: "graph.microsoft.us",
	}, {
		Name:           "usgov-l5",
		GraphURL:       "https://dod-graph.microsoft.us/v1.0",
		Authority:      "https://login.microsoftonline.us",
		UploadSessions: false,
		GraphScopeHost: "dod-graph.microsoft.us",
	}, {
		Name:           "china",
		GraphURL:       "https://microsoftgraph.chinacloudapi.cn/v1.0",
		Authority:      "https://login.chinacloudapi.cn",
		UploadSessions: true,
		GraphScopeHost: "microsoftgraph.chinacloudapi.cn",
	}}
}

// LookupCloud returns the cloud called name (case-insensitive); "" means DefaultCloud.
func LookupCloud(name string) (Cloud, error) {
	if name == "" {
		name = DefaultCloud
	}
	want := strings.ToLower(strings.TrimSpace(name))
	for _, c := range knownClouds() {
		if c.Name == want {
			return c, nil
		}
	}
	return Cloud{}, fmt.Errorf("graph: unknown cloud %q (known: %s)", name, strings.Join(CloudNames(), ", "))
}

// CloudNames lists the known clouds' names, sorted.
func CloudNames() []string {
	var names []string
	for _, c := range knownClouds() {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return names
}

// Scope returns the delegated or application scope named perm on this cloud's Graph,
// e.g. Scope("Mail.ReadWrite") = "https://graph.microsoft.com/Mail.ReadWrite".
func (c Cloud) Scope(perm string) string {
	return "https://" + c.GraphScopeHost + "/" + perm
}
