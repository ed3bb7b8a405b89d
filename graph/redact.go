package graph

import (
	"errors"
	"net/url"
	"strings"
)

// redactURL is the form of a request URL that may appear in a log line or an
// error. For Graph it is the path without query. An upload URL's query is a
// credential (?authtoken=...) and its path names the user and the item: it is
// shown as "upload session …" plus the last 8 characters of the session's path.
func redactURL(raw string, upload bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		if upload {
			return "upload session"
		}
		path, _, _ := strings.Cut(raw, "?")
		return path
	}
	if !upload {
		return u.EscapedPath()
	}
	p := strings.TrimRight(u.EscapedPath(), "')\"/")
	if len(p) > 8 {
		p = p[len(p)-8:]
	}
	return "upload session …" + p
}

// scrub removes from s the query of rawURL (and the URL itself) wherever it
// appears, and any authtoken parameter, so that an error text from the transport
// or the server can be shown.
func scrub(s, rawURL string) string {
	if rawURL != "" {
		s = strings.ReplaceAll(s, rawURL, redactURL(rawURL, true))
		if _, q, ok := strings.Cut(rawURL, "?"); ok && q != "" {
			s = strings.ReplaceAll(s, q, "…")
		}
	}
	for {
		lower := strings.ToLower(s)
		i := strings.Index(lower, "authtoken=")
		if i < 0 {
			return s
		}
		j := i + len("authtoken=")
		for j < len(s) && !strings.ContainsRune(" \t\r\n\"'&,;)>", rune(s[j])) {
			j++
		}
		s = s[:i] + "authtoken-redacted" + s[j:]
	}
}

// redactedError keeps the chain of a transport error for errors.Is and
// errors.As while showing only scrubbed text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// netError wraps a transport failure of r. The *url.Error that net/http returns
// carries the whole URL, query included: it is taken off, and whatever text is
// left is scrubbed of the URL's query.
func (c *Client) netError(r *request, err error) *NetError {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		inner = ue.Err
	}
	return &NetError{
		Op:     r.op,
		Method: r.method,
		Path:   redactURL(r.url, r.upload),
		Err:    &redactedError{msg: scrub(inner.Error(), r.url), err: inner},
	}
}
