package graph

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file holds the three parsers of values the upload host and Graph send back
// in forms that vary (graph-protocol.md 1.2 and 4). Each is fuzzed in parse_fuzz_test.go.

// maxRetryAfter caps what a Retry-After can ask for, so a hostile or broken value
// cannot overflow a time.Duration. The client's own MaxRetryTime binds long before.
const maxRetryAfter = 24 * time.Hour

// parseNextExpectedRanges returns the next byte offset the upload session expects,
// from the first entry of nextExpectedRanges. Outlook sends a bare start ("2097152"),
// a fresh session "0-", OneDrive "N-M": all three forms are accepted, with spaces
// around the numbers. ok is false when the list is empty or its first entry is not
// one of those forms.
func parseNextExpectedRanges(ranges []string) (next int64, ok bool) {
	if len(ranges) == 0 {
		return 0, false
	}
	s := strings.TrimSpace(ranges[0])
	start, end, dash := strings.Cut(s, "-")
	n, ok := parseOffset(strings.TrimSpace(start))
	if !ok {
		return 0, false
	}
	if dash {
		end = strings.TrimSpace(end)
		if end != "" {
			m, ok := parseOffset(end)
			if !ok || m < n {
				return 0, false
			}
		}
	}
	return n, true
}

// parseOffset parses a non-negative decimal byte offset (digits only, no sign).
func parseOffset(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseRetryAfter reads a Retry-After header value: whole seconds ("5"), fractional
// seconds as Outlook sends them ("2.128"), or an HTTP date (then relative to now;
// a date in the past means 0). ok is false for an empty or malformed value.
// The result is never negative and never over maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, ok := parseSeconds(v); ok {
		return secs, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

// parseSeconds parses "digits[.digits]" as seconds.
func parseSeconds(v string) (time.Duration, bool) {
	intPart, frac, hasDot := strings.Cut(v, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return 0, false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	if hasDot && frac == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) || f*float64(time.Second) >= float64(maxRetryAfter) {
		return maxRetryAfter, true
	}
	return time.Duration(f * float64(time.Second)), true
}

// parseAttachmentLocation extracts the attachment id from the Location header of
// the final 201 of an upload session, e.g.
//
//	https://outlook.office.com/api/v2.0/Users('u@t')/Messages('m')/Attachments('AAMk...')
//
// Events have Events('..') in place of Messages('..'). The URL may arrive
// percent-escaped (Attachments(%27...%27)), the literal may use double quotes, and
// an OData literal doubles a single quote inside it (”): all are handled.
func parseAttachmentLocation(loc string) (id string, ok bool) {
	loc = strings.TrimSpace(loc)
	if loc == "" {
		return "", false
	}
	// An escaped Location is unescaped once as a whole; the literal found in it is
	// then the id itself. A plain one is searched as it is.
	if strings.Contains(loc, "%") {
		if u, err := url.PathUnescape(loc); err == nil {
			if id, ok := findAttachmentsLiteral(u); ok {
				return id, id != ""
			}
		}
	}
	if id, ok := findAttachmentsLiteral(loc); ok {
		return id, id != ""
	}
	return "", false
}

// findAttachmentsLiteral finds the first "/Attachments(<literal>)" (any case) whose
// literal parses and is followed by the end of the string or of the path segment.
func findAttachmentsLiteral(s string) (string, bool) {
	const marker = "/attachments("
	lower := strings.ToLower(s)
	from := 0
	for {
		i := strings.Index(lower[from:], marker)
		if i < 0 {
			return "", false
		}
		start := from + i + len(marker)
		if id, rest, ok := odataLiteral(s[start:]); ok && strings.HasPrefix(rest, ")") {
			after := rest[1:]
			if after == "" || after[0] == '/' || after[0] == '?' || after[0] == '#' {
				return id, true
			}
		}
		from = start
	}
}

// odataLiteral reads a quoted OData string literal ('...' with ” for a quote, or
// "..." with "" for a quote) or an unquoted key up to ')'. It returns the value and
// what follows the literal.
func odataLiteral(s string) (val, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	q := s[0]
	if q != '\'' && q != '"' {
		end := strings.IndexByte(s, ')')
		if end <= 0 {
			return "", "", false
		}
		return s[:end], s[end:], true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}
