package graphtest

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCreateUploadSession(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	path := "/me/messages/" + draft + "/attachments/createUploadSession"

	r := c.do("POST", path, sessionBody("big.bin", 3<<20), nil)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	body := r.json(t)
	u := body["uploadUrl"].(string)
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(s.UploadURL) + `/api/v2\.0/Users\('a@outlookfs\.test'\)/Messages\('` +
		regexp.QuoteMeta(draft) + `'\)/AttachmentSessions\('[^']+'\)\?authtoken=[A-Za-z0-9_-]{20,}$`)
	if !re.MatchString(u) {
		t.Fatalf("uploadUrl %q", u)
	}
	if strings.HasPrefix(u, s.RootURL) {
		t.Fatal("uploadUrl is on the Graph host")
	}
	if rr := body["nextExpectedRanges"].([]any); len(rr) != 1 || rr[0] != "0-" {
		t.Fatalf("nextExpectedRanges %v", rr)
	}
	if exp, err := time.Parse(time.RFC3339Nano, body["expirationDateTime"].(string)); err != nil || time.Until(exp) < 14*time.Minute {
		t.Fatalf("expirationDateTime %v (%v)", body["expirationDateTime"], err)
	}

	// The lower-case top key is accepted too.
	r = c.do("POST", path, map[string]any{"attachmentItem": map[string]any{"attachmentType": "file", "name": "x", "size": 4 << 20}}, nil)
	if r.status != 201 {
		t.Fatalf("attachmentItem: %d %s", r.status, r.body)
	}

	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"2 bytes under 3 MiB", sessionBody("x", 3<<20-1), 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"},
		{"tiny", sessionBody("x", 1), 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"},
		{"over 150 MB", sessionBody("x", 150<<20+1), 400, "ErrorMessageSizeExceeded"},
		{"no AttachmentItem", map[string]any{"name": "x"}, 400, "ErrorInvalidRequest"},
		{"no size", map[string]any{"AttachmentItem": map[string]any{"attachmentType": "file", "name": "x"}}, 400, "ErrorInvalidRequest"},
		{"no name", map[string]any{"AttachmentItem": map[string]any{"attachmentType": "file", "size": 4 << 20}}, 400, "ErrorInvalidRequest"},
		{"no attachmentType", map[string]any{"AttachmentItem": map[string]any{"name": "x", "size": 4 << 20}}, 400, "ErrorInvalidRequest"},
		{"item type", map[string]any{"AttachmentItem": map[string]any{"attachmentType": "item", "name": "x", "size": 4 << 20}}, 400, "ErrorInvalidRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", path, tc.body, nil)
			if r.status != tc.status || r.code(t) != tc.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("150 MB exactly is allowed", func(t *testing.T) {
		if r := c.do("POST", path, sessionBody("x", 150<<20), nil); r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("too-small status setting", func(t *testing.T) {
		s := StartT(t, Options{TooSmallStatus: 422})
		m := s.Emulator.AddMailbox("a@outlookfs.test")
		d := m.AddDraft("d")
		r := newRaw(t, s, m.Token()).do("POST", "/me/messages/"+d+"/attachments/createUploadSession", sessionBody("x", 100), nil)
		if r.status != 422 || r.code(t) != "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestSharedMailboxUploadSessions(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			s := StartT(t, Options{AllowSharedUploadSessions: allow})
			e := s.Emulator
			shared := e.AddMailbox("team@outlookfs.test")
			shared.ShareWith("alice@outlookfs.test")
			alice := e.AddMailbox("alice@outlookfs.test")
			draft := shared.AddDraft("d")
			path := "/users/team@outlookfs.test/messages/" + draft + "/attachments"
			c := newRaw(t, s, alice.Token())

			want := 403
			if allow {
				want = 201
			}
			r := c.do("POST", path+"/createUploadSession", sessionBody("big", 4<<20), nil)
			if r.status != want {
				t.Fatalf("delegate createUploadSession: %d %s", r.status, r.body)
			}
			if !allow && r.code(t) != "ErrorAccessDenied" {
				t.Fatalf("code %s", r.code(t))
			}
			// Small POSTs still work for the delegate.
			if r := c.do("POST", path, fileAttachmentBody("a.txt", []byte("a")), nil); r.status != 201 {
				t.Fatalf("delegate small POST: %d %s", r.status, r.body)
			}
			// The app-only token is not affected.
			if r := newRaw(t, s, e.AppToken()).do("POST", path+"/createUploadSession", sessionBody("big", 4<<20), nil); r.status != 201 {
				t.Fatalf("app token: %d %s", r.status, r.body)
			}
			// A mailbox marked shared refuses even its own delegated token.
			own := e.AddMailbox("own@outlookfs.test")
			own.SetShared(true)
			d := own.AddDraft("d")
			r = newRaw(t, s, own.Token()).do("POST", "/me/messages/"+d+"/attachments/createUploadSession", sessionBody("big", 4<<20), nil)
			if r.status != want {
				t.Fatalf("SetShared: %d %s", r.status, r.body)
			}
		})
	}
}

// newUploadFixture makes a server, a draft and an upload session for data.
func newUploadFixture(t *testing.T, opts Options, size int) (*Server, *Mailbox, *rawClient, string, string, []byte) {
	t.Helper()
	s := StartT(t, opts)
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	data := pattern(size)
	u := c.createSession("/me/messages/"+draft, "big.bin", int64(size))
	return s, m, c, draft, u, data
}

func TestUploadHostRejections(t *testing.T) {
	const size = 5 << 20
	const mib = 1 << 20
	type step struct {
		hdr    map[string]string
		body   []byte // nil: the range's bytes
		first  int64
		last   int64
		status int
		code   string
	}
	ok := func(first, last int64) step { return step{first: first, last: last, status: 200} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"Authorization header", []step{{hdr: map[string]string{"Authorization": "Bearer x"}, first: 0, last: mib - 1, status: 401, code: "InvalidAudienceForResource"}}},
		{"start not the expected offset", []step{ok(0, mib-1), {first: 2 * mib, last: 3*mib - 1, status: 416, code: "invalidRange"}}},
		{"start repeated", []step{ok(0, mib-1), {first: 0, last: mib - 1, status: 416, code: "invalidRange"}}},
		{"first range not at 0", []step{{first: 1, last: mib, status: 416, code: "invalidRange"}}},
		{"Content-Length not the range length", []step{{first: 0, last: mib - 1, body: make([]byte, mib-1), status: 400, code: "invalidRequest"}}},
		{"total not the declared size", []step{{first: 0, last: mib - 1, hdr: map[string]string{"Content-Range": fmt.Sprintf("bytes 0-%d/%d", mib-1, size+1)}, status: 400, code: "invalidRequest"}}},
		{"no Content-Range", []step{{first: 0, last: mib - 1, hdr: map[string]string{"Content-Range": ""}, status: 400, code: "invalidRequest"}}},
		{"malformed Content-Range", []step{{first: 0, last: mib - 1, hdr: map[string]string{"Content-Range": "bytes=0-1"}, status: 400, code: "invalidRequest"}}},
		{"range over 4 MiB", []step{{first: 0, last: 4 * mib, status: 413, code: "requestTooLarge"}}},
		{"range of exactly 4 MiB", []step{ok(0, 4*mib-1), {first: 4 * mib, last: size - 1, status: 201}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m, c, draft, u, data := newUploadFixture(t, Options{}, size)
			for i, st := range tc.steps {
				body := st.body
				if body == nil {
					body = data[st.first : st.last+1]
				}
				hdr := map[string]string{
					"Content-Range": fmt.Sprintf("bytes %d-%d/%d", st.first, st.last, size),
					"Content-Type":  "application/octet-stream",
				}
				for k, v := range st.hdr {
					hdr[k] = v
				}
				r := c.do("PUT", u, body, hdr)
				if r.status != st.status {
					t.Fatalf("step %d: %d, want %d: %s", i, r.status, st.status, r.body)
				}
				if st.code != "" && r.code(t) != st.code {
					t.Fatalf("step %d: code %s, want %s", i, r.code(t), st.code)
				}
			}
			// A refused range changes nothing: the session goes on from where it stands.
			if st := c.do("GET", u, nil, nil); st.status == http.StatusOK {
				final := c.uploadFrom(u, data, c.nextOffset(u), 4*mib)
				if final.status != http.StatusCreated {
					t.Fatalf("finishing: %d", final.status)
				}
			}
			atts := m.Attachments(draft)
			if len(atts) != 1 || !bytes.Equal(atts[0].Data, data) {
				t.Fatalf("%d attachments after the upload, content intact: %v", len(atts), len(atts) == 1 && bytes.Equal(atts[0].Data, data))
			}
		})
	}
}

func TestUploadAnswers(t *testing.T) {
	for _, spelling := range []KeySpelling{CamelCase, PascalCase} {
		t.Run(fmt.Sprintf("spelling=%d", spelling), func(t *testing.T) {
			const size = 5<<20 + 7
			s, _, c, draft, u, data := newUploadFixture(t, Options{KeySpelling: spelling}, size)
			exp, ranges := "expirationDateTime", "nextExpectedRanges"
			if spelling == PascalCase {
				exp, ranges = "ExpirationDateTime", "NextExpectedRanges"
			}
			created := c.do("GET", u, nil, nil).json(t)[exp]

			r := c.put(u, data, 0, 2<<20-1)
			if r.status != 200 {
				t.Fatalf("first PUT: %d %s", r.status, r.body)
			}
			body := r.json(t)
			if rr := body[ranges].([]any); len(rr) != 1 || rr[0] != "2097152" {
				t.Fatalf("%s = %v, want the bare offset [\"2097152\"]", ranges, body[ranges])
			}
			if body[exp] == nil || body[exp] != created {
				t.Fatalf("%s %v changed from %v: uploads must not extend it", exp, body[exp], created)
			}
			// GET answers the same body as a 200 PUT.
			st := c.do("GET", u, nil, nil)
			if st.status != 200 || !bytes.Equal(st.body, r.body) {
				t.Fatalf("status GET %d %s, PUT said %s", st.status, st.body, r.body)
			}
			r = c.put(u, data, 2<<20, 4<<20-1)
			if r.status != 200 {
				t.Fatalf("second PUT: %d", r.status)
			}
			final := c.put(u, data, 4<<20, size-1)
			if final.status != 201 {
				t.Fatalf("final PUT: %d %s", final.status, final.body)
			}
			if len(final.body) != 0 || final.header.Get("Content-Length") != "0" || final.header.Get("Content-Type") != "" {
				t.Fatalf("final answer: body %q, Content-Length %q, Content-Type %q",
					final.body, final.header.Get("Content-Length"), final.header.Get("Content-Type"))
			}
			loc := final.header.Get("Location")
			prefix := s.UploadURL + "/api/v2.0/Users('a@outlookfs.test')/Messages('" + draft + "')/Attachments('"
			if !strings.HasPrefix(loc, prefix) || !strings.HasSuffix(loc, "')") {
				t.Fatalf("Location %q", loc)
			}
			aid := attachmentIDFromLocation(t, loc)
			if got := c.valueOf("/me/messages/"+draft, aid); !bytes.Equal(got, data) {
				t.Fatal("$value differs from the upload")
			}
			a := c.do("GET", "/me/messages/"+draft+"/attachments/"+aid+"?$select=size,name", nil, nil).json(t)
			if a["size"].(float64) <= size || a["name"] != "big.bin" {
				t.Fatalf("listed %v: size must be larger than the %d bytes", a, size)
			}
		})
	}
}

func TestUploadToEvent(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	ev := m.AddEvent("e", time.Now(), time.Now().Add(time.Hour), true)
	c := newRaw(t, s, m.Token())
	data := pattern(3 << 20)
	u := c.createSession("/me/events/"+ev, "e.bin", int64(len(data)))
	if !strings.Contains(u, "/Events('"+ev+"')/AttachmentSessions('") {
		t.Fatalf("uploadUrl %q", u)
	}
	final := c.uploadAll(u, data, 4<<20)
	if loc := final.header.Get("Location"); !strings.Contains(loc, "/Events('"+ev+"')/Attachments('") {
		t.Fatalf("Location %q", loc)
	}
	if got := c.valueOf("/me/events/"+ev, attachmentIDFromLocation(t, final.header.Get("Location"))); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestUploadSessionEnds(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name string
		end  func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte)
	}{
		{"expired by lifetime", func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte) {
			clock.Advance(15*time.Minute + time.Second)
		}},
		{"ExpireSessions", func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte) {
			s.Emulator.ExpireSessions()
		}},
		{"POST /_emulator/expire-sessions", func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte) {
			if r := c.do("POST", s.RootURL+"/_emulator/expire-sessions", nil, nil); r.status != 204 {
				t.Fatalf("expire-sessions: %d", r.status)
			}
		}},
		{"cancelled", func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte) {
			if r := c.do("DELETE", u, nil, nil); r.status != 204 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
		}},
		{"completed", func(t *testing.T, s *Server, clock *fakeClock, c *rawClient, u string, data []byte) {
			if r := c.put(u, data, 1<<20, size-1); r.status != 201 {
				t.Fatalf("final PUT: %d %s", r.status, r.body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			s, _, c, _, u, data := newUploadFixture(t, Options{Now: clock.Now}, size)
			if r := c.put(u, data, 0, 1<<20-1); r.status != 200 {
				t.Fatalf("first PUT: %d", r.status)
			}
			tc.end(t, s, clock, c, u, data)
			for _, method := range []string{"PUT", "GET", "DELETE"} {
				var r resp
				if method == "PUT" {
					r = c.put(u, data, 1<<20, 2<<20-1)
				} else {
					r = c.do(method, u, nil, nil)
				}
				if r.status != 404 || r.code(t) != "itemNotFound" {
					t.Fatalf("%s after the end: %d %s", method, r.status, r.body)
				}
			}
		})
	}
	t.Run("session lifetime setting", func(t *testing.T) {
		clock := newClock()
		_, _, c, _, u, data := newUploadFixture(t, Options{Now: clock.Now, SessionLifetime: time.Minute}, size)
		clock.Advance(59 * time.Second)
		if r := c.put(u, data, 0, 1<<20-1); r.status != 200 {
			t.Fatalf("before expiry: %d", r.status)
		}
		clock.Advance(2 * time.Second)
		if r := c.put(u, data, 1<<20, 2<<20-1); r.status != 404 {
			t.Fatalf("after expiry: %d", r.status)
		}
	})
	t.Run("wrong authtoken", func(t *testing.T) {
		_, _, c, _, u, data := newUploadFixture(t, Options{}, size)
		bad := u[:strings.Index(u, "authtoken=")] + "authtoken=guess"
		if r := c.put(bad, data, 0, 1<<20-1); r.status != 401 {
			t.Fatalf("wrong authtoken: %d", r.status)
		}
		noQuery := u[:strings.Index(u, "?")]
		if r := c.put(noQuery, data, 0, 1<<20-1); r.status != 401 {
			t.Fatalf("no authtoken: %d", r.status)
		}
		if r := c.put(strings.Replace(u, "AttachmentSessions('", "AttachmentSessions('x", 1), data, 0, 1<<20-1); r.status != 404 {
			t.Fatalf("unknown session: %d", r.status)
		}
	})
}

func TestMessageSizeLimitDuringUpload(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		opts     Options
		existing int
		size     int
		failAt   int64 // first byte of the PUT that must fail; -1: none
		status   int
	}{
		{"default 35 MiB: at the limit", Options{}, 0, 35 * mib, -1, 0},
		{"default 35 MiB: one byte over", Options{}, 0, 35*mib + 1, 32 * mib, 400},
		{"existing attachments count", Options{MessageSizeLimit: 10 * mib}, 3 * mib, 8 * mib, 4 * mib, 400},
		{"status setting", Options{MessageSizeLimit: 6 * mib, MessageSizeExceededStatus: 413}, 0, 7 * mib, 4 * mib, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := StartT(t, tc.opts)
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("d")
			if tc.existing > 0 {
				m.AddFileAttachment(draft, "old", "application/octet-stream", make([]byte, tc.existing))
			}
			c := newRaw(t, s, m.Token())
			data := pattern(tc.size)
			u := c.createSession("/me/messages/"+draft, "big", int64(tc.size)) // accepted at creation
			for off := int64(0); off < int64(tc.size); off += 4 * mib {
				last := min(off+4*mib, int64(tc.size)) - 1
				r := c.put(u, data, off, last)
				if off == tc.failAt {
					if r.status != tc.status || r.code(t) != "ErrorMessageSizeExceeded" {
						t.Fatalf("PUT at %d: %d %s", off, r.status, r.body)
					}
					return
				}
				if r.status != 200 && r.status != 201 {
					t.Fatalf("PUT at %d: %d %s", off, r.status, r.body)
				}
			}
			if tc.failAt >= 0 {
				t.Fatal("no PUT failed")
			}
			if got := m.Attachments(draft); !bytes.Equal(got[len(got)-1].Data, data) {
				t.Fatal("content differs")
			}
		})
	}
}
