package graph

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Client for one mailbox.
type Config struct {
	BaseURL      string        // e.g. https://graph.microsoft.com/v1.0 (no trailing slash)
	Mailbox      string        // "" or "me" -> /me ; "user@domain" -> /users/user@domain
	Tokens       TokenSource   // bearer tokens for Graph (never sent to the upload host)
	HTTPClient   *http.Client  // nil -> a default client (TLS verification always on)
	MaxInFlight  int           // requests in flight per mailbox, shared by every call incl. upload PUTs; default 4
	MaxAttempts  int           // per request, default 6
	MaxRetryTime time.Duration // per request, default 2m
	RequestLimit int64         // largest POST body sent as is (bytes); default 4 MB; over it the JSON is gzip'ed
	Logger       *slog.Logger  // debug lines per request; nil -> discarded
}

// Defaults of Config.
const (
	DefaultMaxInFlight  = 4
	DefaultMaxAttempts  = 6
	DefaultMaxRetryTime = 2 * time.Minute
	// DefaultRequestLimit is Graph's documented request size limit, "4 MB", read as 4,000,000
	// bytes: whether Graph means 4 MB or 4 MiB is not known, and a body between the two sent as
	// is would be refused if it means 4 MB (a 2.9 MiB file's base64 JSON is such a body).
	DefaultRequestLimit = 4_000_000
)

// Client talks to Microsoft Graph for one mailbox. It is safe for concurrent use.
// Every request it makes (Graph calls, upload PUTs, downloads still being read)
// holds one of MaxInFlight slots, because Outlook allows 4 concurrent requests
// per app and mailbox.
type Client struct {
	base     *url.URL // BaseURL, parsed
	baseStr  string   // BaseURL without trailing slash
	prefix   string   // "/me" or "/users/{upn}" (escaped)
	tokens   TokenSource
	hc       *http.Client
	sem      chan struct{}
	retry    retryPolicy
	reqLimit int64
	log      *slog.Logger

	// attachmentSelect is the $select of attachment listings; see attachments.go.
	attachmentSelect selectFallback
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("graph: Config.Tokens is required")
	}
	baseStr := strings.TrimRight(cfg.BaseURL, "/")
	base, err := url.Parse(baseStr)
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") ||
		base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("graph: Config.BaseURL %q is not an http(s) URL without query", cfg.BaseURL)
	}
	c := &Client{
		base:     base,
		baseStr:  baseStr,
		prefix:   mailboxPrefix(cfg.Mailbox),
		tokens:   cfg.Tokens,
		hc:       cfg.HTTPClient,
		reqLimit: cfg.RequestLimit,
		log:      cfg.Logger,
		retry:    defaultRetryPolicy(cfg.MaxAttempts, cfg.MaxRetryTime),
	}
	n := cfg.MaxInFlight
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	c.sem = make(chan struct{}, n)
	if c.hc == nil {
		c.hc = DefaultHTTPClient(n)
	}
	if c.reqLimit <= 0 {
		c.reqLimit = DefaultRequestLimit
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// mailboxPrefix is the path of the mailbox below the base URL.
func mailboxPrefix(mailbox string) string {
	if mailbox == "" || strings.EqualFold(mailbox, "me") {
		return "/me"
	}
	return "/users/" + url.PathEscape(mailbox)
}

// DefaultHTTPClient is the client New uses when Config.HTTPClient is nil: TLS
// verification on (TLS 1.2 or later), HTTP/2 allowed, bounded dial, handshake and
// response-header times. It has no overall timeout, because a download's body may
// stream for minutes: every call is bounded by its context instead.
func DefaultHTTPClient(maxInFlight int) *http.Client {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   maxInFlight + 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Graph may think for ~30 s before a large $value starts (graph-protocol.md 2).
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	return &http.Client{
		Transport: tr,
		// Graph does not redirect the calls we make; never follow a redirect with
		// our Authorization header to somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// graphURL is the absolute URL of a path below the mailbox, plus a raw query.
func (c *Client) graphURL(path, rawQuery string) string {
	u := c.baseStr + c.prefix + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// sameOrigin reports whether u is on the Graph host we were configured with, so
// that our bearer token is never sent anywhere else (e.g. by a nextLink).
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}
