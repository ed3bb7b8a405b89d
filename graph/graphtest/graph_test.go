package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestAuthentication(t *testing.T) {
	clock := newClock()
	s := StartT(t, Options{Now: clock.Now})
	e := s.Emulator
	a := e.AddMailbox("alice@outlookfs.test")
	b := e.AddMailbox("bob@outlookfs.test")
	a.AddDraft("x")
	revoked := e.IssueToken("alice@outlookfs.test", time.Hour)
	e.RevokeToken(revoked)
	expiring := e.IssueToken("alice@outlookfs.test", time.Minute)
	clock.Advance(2 * time.Minute)

	tests := []struct {
		name   string
		token  string
		path   string
		status int
		code   string
	}{
		{"no token", "", "/me/mailFolders/drafts/messages", 401, "InvalidAuthenticationToken"},
		{"unknown token", "nonsense", "/me/mailFolders/drafts/messages", 401, "InvalidAuthenticationToken"},
		{"revoked token", revoked, "/me/mailFolders/drafts/messages", 401, "InvalidAuthenticationToken"},
		{"expired token", expiring, "/me/mailFolders/drafts/messages", 401, "InvalidAuthenticationToken"},
		{"delegated /me", a.Token(), "/me/mailFolders/drafts/messages", 200, ""},
		{"delegated own upn", a.Token(), "/users/alice@outlookfs.test/messages", 200, ""},
		{"delegated upn case-insensitive", a.Token(), "/users/ALICE@outlookfs.test/messages", 200, ""},
		{"delegated other user", a.Token(), "/users/bob@outlookfs.test/messages", 403, "ErrorAccessDenied"},
		{"app token /users", e.AppToken(), "/users/bob@outlookfs.test/messages", 200, ""},
		{"app token /me", e.AppToken(), "/me/messages", 400, "BadRequest"},
		{"unknown user", e.AppToken(), "/users/nobody@outlookfs.test/messages", 404, "ErrorInvalidUser"},
		{"unknown segment", a.Token(), "/me/contacts", 400, "BadRequest"},
		{"malformed id", a.Token(), "/me/messages/not-an-id", 400, "ErrorInvalidIdMalformed"},
		{"unknown id", a.Token(), "/me/messages/AAMkAGMnonexistent=", 404, "ErrorItemNotFound"},
		{"event id as message", a.Token(), "/me/messages/" + b.AddEvent("e", clock.Now(), clock.Now().Add(time.Hour), true), 404, "ErrorItemNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRaw(t, s, tc.token).do("GET", tc.path, nil, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if got := r.code(t); got != tc.code {
					t.Fatalf("code %q, want %q", got, tc.code)
				}
				if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				env := r.json(t)["error"].(map[string]any)
				inner, _ := env["innerError"].(map[string]any)
				if inner == nil || inner["request-id"] == "" {
					t.Errorf("error envelope without innerError.request-id: %s", r.body)
				}
			}
		})
	}
}

func TestDraftsPagingAndSelect(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	want := map[string]bool{}
	for i := range 25 {
		id := m.AddDraft(fmt.Sprintf("draft %02d", i))
		want[id] = true
	}
	c := newRaw(t, s, m.Token())

	// Default page size 10, nextLink absolute and followed verbatim.
	next := "/me/mailFolders/drafts/messages?$select=subject,hasAttachments"
	seen := map[string]bool{}
	pages := 0
	for next != "" {
		r := c.do("GET", next, nil, nil)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		body := r.json(t)
		for _, v := range body["value"].([]any) {
			msg := v.(map[string]any)
			for k := range msg {
				switch k {
				case "id", "subject", "hasAttachments", "@odata.etag":
				default:
					t.Fatalf("$select=subject,hasAttachments returned %q", k)
				}
			}
			seen[msg["id"].(string)] = true
		}
		pages++
		next, _ = body["@odata.nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, s.RootURL+"/v1.0/me/mailFolders/drafts/messages?") {
			t.Fatalf("nextLink %q is not an absolute URL of the same collection", next)
		}
		if next != "" && !strings.Contains(next, "select") {
			t.Fatalf("nextLink %q lost $select", next)
		}
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("pages %d, items %d; want 3 pages, 25 items", pages, len(seen))
	}

	r := c.do("GET", "/me/mailFolders/drafts/messages?$top=1000", nil, nil)
	if n := len(r.json(t)["value"].([]any)); n != 25 || r.json(t)["@odata.nextLink"] != nil {
		t.Fatalf("$top=1000: %d items, nextLink %v", n, r.json(t)["@odata.nextLink"])
	}
	// Well-known folder names are case-insensitive; $top without "$" works too.
	r = c.do("GET", "/me/mailFolders/Drafts/messages?top=7", nil, nil)
	if n := len(r.json(t)["value"].([]any)); n != 7 {
		t.Fatalf("top=7: %d items", n)
	}

	bad := []struct{ name, query, code string }{
		{"top zero", "$top=0", "BadRequest"},
		{"top over 1000", "$top=1001", "BadRequest"},
		{"top not a number", "$top=ten", "BadRequest"},
		{"unknown property", "$select=subject,nonsense", "RequestBroker--ParseUri"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("GET", "/me/mailFolders/drafts/messages?"+tc.query, nil, nil)
			if r.status != 400 || r.code(t) != tc.code {
				t.Fatalf("%s: %d %s", tc.query, r.status, r.body)
			}
		})
	}
	// Another folder than drafts is not there.
	if r := c.do("GET", "/me/mailFolders/inbox/messages", nil, nil); r.status != 404 {
		t.Fatalf("inbox: %d", r.status)
	}
}

func TestDraftLifecycle(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(t, s, m.Token())

	r := c.do("POST", "/me/messages", map[string]any{"subject": "Café ☕ / plan"}, nil)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	msg := r.json(t)
	id := msg["id"].(string)
	if msg["isDraft"] != true || msg["subject"] != "Café ☕ / plan" {
		t.Fatalf("created %v", msg)
	}

	// gzip'ed request bodies are accepted.
	body, _ := json.Marshal(map[string]any{"subject": "renamed"})
	r = c.do("PATCH", "/me/messages/"+id, gzipBytes(t, body), map[string]string{
		"Content-Encoding": "gzip", "Content-Type": "application/json",
	})
	if r.status != 200 || r.json(t)["subject"] != "renamed" {
		t.Fatalf("gzip PATCH: %d %s", r.status, r.body)
	}
	if it, _ := m.Item(id); it.Subject != "renamed" {
		t.Fatalf("stored subject %q", it.Subject)
	}
	r = c.do("GET", "/me/messages/"+id+"?$select=subject", nil, nil)
	if r.status != 200 || r.json(t)["subject"] != "renamed" || r.json(t)["body"] != nil {
		t.Fatalf("GET $select: %d %s", r.status, r.body)
	}
	// Other content encodings are refused (kiota then retries uncompressed).
	r = c.do("PATCH", "/me/messages/"+id, body, map[string]string{"Content-Encoding": "br", "Content-Type": "application/json"})
	if r.status != 415 {
		t.Fatalf("br body: %d", r.status)
	}
	// A JSON body needs its Content-Type.
	r = c.do("PATCH", "/me/messages/"+id, body, nil)
	if r.status != 400 {
		t.Fatalf("no Content-Type: %d", r.status)
	}
	if r := c.do("DELETE", "/me/messages/"+id, nil, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := c.do("GET", "/me/messages/"+id, nil, nil); r.status != 404 {
		t.Fatalf("get after delete: %d", r.status)
	}
	if r := c.do("DELETE", "/me/messages/"+id, nil, nil); r.status != 404 {
		t.Fatalf("delete twice: %d", r.status)
	}
}

func TestEventsAndCalendarView(t *testing.T) {
	clock := newClock()
	s := StartT(t, Options{Now: clock.Now})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(t, s, m.Token())
	day := clock.Now().Truncate(24 * time.Hour)
	for i := range 15 {
		start := day.Add(time.Duration(i) * 24 * time.Hour).Add(10 * time.Hour)
		m.AddEvent(fmt.Sprintf("event %02d", i), start, start.Add(time.Hour), i%2 == 0)
	}
	// Outside the window below.
	m.AddEvent("long ago", day.Add(-100*24*time.Hour), day.Add(-99*24*time.Hour), true)

	q := url.Values{}
	q.Set("startDateTime", day.Format(time.RFC3339))
	q.Set("endDateTime", day.Add(12*24*time.Hour).Format("2006-01-02T15:04:05"))
	next := "/me/calendarView?" + q.Encode() + "&$top=5&$select=subject,start,end,isOrganizer"
	var subjects []string
	for next != "" {
		r := c.do("GET", next, nil, nil)
		if r.status != 200 {
			t.Fatalf("calendarView: %d %s", r.status, r.body)
		}
		body := r.json(t)
		for _, v := range body["value"].([]any) {
			ev := v.(map[string]any)
			subjects = append(subjects, ev["subject"].(string))
			st := ev["start"].(map[string]any)
			if st["timeZone"] != "UTC" || !strings.HasSuffix(st["dateTime"].(string), ".0000000") {
				t.Fatalf("start %v", st)
			}
			if _, ok := ev["isOrganizer"].(bool); !ok {
				t.Fatalf("no isOrganizer: %v", ev)
			}
		}
		next, _ = body["@odata.nextLink"].(string)
		if next != "" && !strings.Contains(next, "skiptoken") {
			t.Fatalf("calendarView nextLink without $skiptoken: %s", next)
		}
	}
	if len(subjects) != 12 || subjects[0] != "event 00" || subjects[11] != "event 11" {
		t.Fatalf("window gave %v", subjects)
	}
	if r := c.do("GET", "/me/calendarView?startDateTime=2026-01-01T00:00:00Z", nil, nil); r.status != 400 || r.code(t) != "ErrorInvalidParameter" {
		t.Fatalf("no endDateTime: %d %s", r.status, r.body)
	}
	r := c.do("GET", "/me/events?$top=20", nil, nil)
	if n := len(r.json(t)["value"].([]any)); n != 16 {
		t.Fatalf("/events: %d", n)
	}
	id := m.Events()[3].ID
	r = c.do("GET", "/me/events/"+id, nil, map[string]string{"Prefer": `outlook.timezone="Europe/Paris"`})
	if r.status != 200 || r.json(t)["start"].(map[string]any)["timeZone"] != "Europe/Paris" {
		t.Fatalf("event with Prefer time zone: %d %s", r.status, r.body)
	}
	r = c.do("POST", "/me/events", map[string]any{
		"subject": "new", "start": map[string]any{"dateTime": "2026-04-01T10:00:00", "timeZone": "UTC"},
		"end": map[string]any{"dateTime": "2026-04-01T11:00:00", "timeZone": "UTC"},
	}, nil)
	if r.status != 201 || r.json(t)["isOrganizer"] != true {
		t.Fatalf("POST event: %d %s", r.status, r.body)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	id := m.AddDraft("x")
	c := newRaw(t, s, m.Token())
	if r := c.do("GET", s.RootURL+"/beta/me/messages", nil, nil); r.status != 404 {
		t.Fatalf("/beta: %d", r.status)
	}
	if r := c.do("PUT", "/me/messages/"+id, []byte("{}"), map[string]string{"Content-Type": "application/json"}); r.status != 405 {
		t.Fatalf("PUT message: %d", r.status)
	}
	if r := c.do("GET", s.RootURL+"/_emulator/nonsense", nil, nil); r.status != 404 {
		t.Fatalf("unknown control endpoint: %d", r.status)
	}
	_ = http.StatusOK
}
