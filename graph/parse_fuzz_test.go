package graph

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseNextExpectedRanges(f *testing.F) {
	for _, s := range []string{"0-", "2097152", "4194304-8388607", " 7 - 9 ", "-", "", "9-3", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseNextExpectedRanges([]string{s})
		if ok && n < 0 {
			t.Fatalf("negative offset %d from %q", n, s)
		}
		if !ok && n != 0 {
			t.Fatalf("not ok but offset %d from %q", n, s)
		}
		// Round trip: whatever offset came out, every form of it parses back to it.
		if ok {
			for _, form := range []string{
				strconv.FormatInt(n, 10),
				strconv.FormatInt(n, 10) + "-",
				strconv.FormatInt(n, 10) + "-" + strconv.FormatInt(n+1, 10),
			} {
				if got, ok := parseNextExpectedRanges([]string{form}); !ok || got != n {
					t.Fatalf("round trip of %d through %q gave %d, %v", n, form, got, ok)
				}
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, s := range []string{"5", "2.128", "0.05", ".5", "3.", "-1", "1e3", "NaN",
		"999999999999999999999", now.Format(http.TimeFormat), "Sun, 06 Nov 1994 08:49:37 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v out of [0, %v]", s, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("not ok but %v from %q", d, s)
		}
		if ok && d < maxRetryAfter {
			// Round trip: the duration written as fractional seconds parses back
			// to within a millisecond, and as an HTTP date to within a second.
			secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
			if got, ok := parseRetryAfter(secs, now); !ok || absDur(got-d) > time.Millisecond {
				t.Fatalf("round trip of %v through %q gave %v, %v", d, secs, got, ok)
			}
			date := now.Add(d).UTC().Format(http.TimeFormat)
			if got, ok := parseRetryAfter(date, now); !ok || absDur(got-d) > time.Second {
				t.Fatalf("round trip of %v through %q gave %v, %v", d, date, got, ok)
			}
		}
	})
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func FuzzParseAttachmentLocation(f *testing.F) {
	for _, s := range []string{"AAMkAD=", "a+b/c", "it's", "x')/Attachments('y", "%41", "日本", "a\"b"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, id string, events bool) {
		// Never panics on arbitrary input.
		parseAttachmentLocation(id)

		if id == "" {
			return
		}
		item := "Messages('m1')"
		if events {
			item = "Events('e1')"
		}
		raw := "https://outlook.office.com/api/v2.0/Users('u@t')/" + item +
			"/Attachments('" + strings.ReplaceAll(id, "'", "''") + "')"
		// Escaped form: always round-trips.
		if got, ok := parseAttachmentLocation(url.PathEscape(raw)); !ok || got != id {
			t.Fatalf("escaped round trip of %q gave %q, %v", id, got, ok)
		}
		// Plain form: round-trips when nothing in the id looks like an escape.
		if !strings.Contains(id, "%") && strings.TrimSpace(raw) == raw {
			if got, ok := parseAttachmentLocation(raw); !ok || got != id {
				t.Fatalf("plain round trip of %q gave %q, %v", id, got, ok)
			}
		}
	})
}
