package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAttachmentListGetValue(t *testing.T) {
	s := StartT(t, Options{})
	m := Seed(s.Emulator)
	c := newRaw(t, s, m.Token())
	var report StoredItem
	for _, d := range m.Drafts() {
		if d.Subject == "Quarterly report" {
			report = d
		}
	}
	base := "/me/messages/" + report.ID + "/attachments"

	// Without $select every file's contentBytes comes along.
	r := c.do("GET", base, nil, nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	kinds := map[string]int{}
	for _, v := range r.json(t)["value"].([]any) {
		a := v.(map[string]any)
		kinds[a["@odata.type"].(string)]++
		_, hasBytes := a["contentBytes"]
		if (a["@odata.type"] == "#microsoft.graph.fileAttachment") != hasBytes {
			t.Errorf("%s %q: contentBytes present=%v", a["@odata.type"], a["name"], hasBytes)
		}
	}
	if kinds["#microsoft.graph.fileAttachment"] != 3 || kinds["#microsoft.graph.itemAttachment"] != 3 || kinds["#microsoft.graph.referenceAttachment"] != 1 {
		t.Fatalf("kinds %v", kinds)
	}

	// With $select, only those fields (plus id and annotations).
	r = c.do("GET", base+"?$select=id,name,contentType,size,isInline,lastModifiedDateTime,microsoft.graph.fileAttachment/contentId", nil, nil)
	if r.status != 200 {
		t.Fatalf("list $select: %d %s", r.status, r.body)
	}
	for _, v := range r.json(t)["value"].([]any) {
		for k := range v.(map[string]any) {
			switch k {
			case "id", "name", "contentType", "size", "isInline", "lastModifiedDateTime", "contentId", "@odata.type", "@odata.mediaContentType":
			default:
				t.Fatalf("$select returned %q", k)
			}
		}
	}

	for _, a := range m.Attachments(report.ID) {
		t.Run(a.Name, func(t *testing.T) {
			r := c.do("GET", base+"/"+a.ID+"/$value", nil, nil)
			switch a.Kind {
			case attReference:
				if r.status != 405 {
					t.Fatalf("$value of reference: %d", r.status)
				}
				return
			case attFile:
				if !bytes.Equal(r.body, a.Data) {
					t.Fatalf("$value differs (%d bytes, want %d)", len(r.body), len(a.Data))
				}
				if r.header.Get("Content-Type") != a.ContentType {
					t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
				}
				if a.Size <= int64(len(a.Data)) {
					t.Errorf("listed size %d not larger than %d bytes", a.Size, len(a.Data))
				}
			case attItem:
				want := map[string]string{
					kindMessage: "MIME-Version: 1.0\r\n",
					kindEvent:   "BEGIN:VCALENDAR\r\n",
					kindContact: "BEGIN:VCARD\r\n",
				}[a.ItemKind]
				if !strings.Contains(string(r.body), want) {
					t.Fatalf("$value of %s attachment: %q", a.ItemKind, r.body)
				}
			}
			if r.status != 200 || r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Fatalf("status %d, Content-Length %q for %d bytes", r.status, r.header.Get("Content-Length"), len(r.body))
			}
			one := c.do("GET", base+"/"+a.ID, nil, nil)
			if one.status != 200 || one.json(t)["id"] != a.ID || one.json(t)["size"].(float64) != float64(a.Size) {
				t.Fatalf("GET attachment: %d %s", one.status, one.body)
			}
		})
	}

	// Attachments cannot be updated.
	aid := m.Attachments(report.ID)[0].ID
	for _, method := range []string{"PATCH", "PUT"} {
		r := c.do(method, base+"/"+aid, map[string]any{"name": "renamed"}, nil)
		if r.status != 405 {
			t.Fatalf("%s attachment: %d", method, r.status)
		}
	}
	if r := c.do("DELETE", base+"/"+aid, nil, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := c.do("GET", base+"/"+aid, nil, nil); r.status != 404 {
		t.Fatalf("get deleted: %d", r.status)
	}
	if r := c.do("DELETE", base+"/"+aid, nil, nil); r.status != 404 {
		t.Fatalf("delete twice: %d", r.status)
	}
}

func TestPostAttachments(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	base := "/me/messages/" + draft + "/attachments"

	data := []byte("twenty bytes of text")
	r := c.do("POST", base, fileAttachmentBody("smile.txt", data), nil)
	if r.status != 201 {
		t.Fatalf("POST file: %d %s", r.status, r.body)
	}
	a := r.json(t)
	if a["contentBytes"] != base64.StdEncoding.EncodeToString(data) || a["size"].(float64) <= float64(len(data)) {
		t.Fatalf("created %v", a)
	}
	if a["size"].(float64) != 178 {
		t.Errorf("20 bytes listed as %v, Microsoft's example says 178", a["size"])
	}
	got := c.do("GET", base+"/"+a["id"].(string)+"/$value", nil, nil)
	if !bytes.Equal(got.body, data) {
		t.Fatalf("$value %q", got.body)
	}
	// Zero bytes work too.
	if r := c.do("POST", base, fileAttachmentBody("empty", nil), nil); r.status != 201 {
		t.Fatalf("POST empty file: %d %s", r.status, r.body)
	}

	r = c.do("POST", base, map[string]any{
		"@odata.type": "#microsoft.graph.itemAttachment", "name": "fwd",
		"item": map[string]any{"@odata.type": "#microsoft.graph.message", "subject": "forwarded"},
	}, nil)
	if r.status != 201 {
		t.Fatalf("POST item: %d %s", r.status, r.body)
	}
	v := c.do("GET", base+"/"+r.json(t)["id"].(string)+"/$value", nil, nil)
	if !strings.Contains(string(v.body), "Subject: forwarded") {
		t.Fatalf("item $value %q", v.body)
	}
	r = c.do("POST", base, map[string]any{"@odata.type": "#microsoft.graph.referenceAttachment", "name": "link"}, nil)
	if r.status != 201 {
		t.Fatalf("POST reference: %d %s", r.status, r.body)
	}
	if n := len(m.Attachments(draft)); n != 4 {
		t.Fatalf("%d attachments stored", n)
	}

	bad := []struct {
		name   string
		body   any
		status int
	}{
		{"no type", map[string]any{"name": "x", "contentBytes": "AAAA"}, 400},
		{"no contentBytes", map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "x"}, 400},
		{"bad base64", map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "x", "contentBytes": "***"}, 400},
		{"not JSON", []byte("{"), 400},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", base, tc.body, map[string]string{"Content-Type": "application/json"})
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

func TestEventAttachmentsNotOrganizer(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	now := time.Now()
	mine := m.AddEvent("mine", now, now.Add(time.Hour), true)
	theirs := m.AddEvent("theirs", now, now.Add(time.Hour), false)
	aid := m.AddFileAttachment(theirs, "slides.pdf", "application/pdf", []byte("pdf"))
	c := newRaw(t, s, m.Token())

	if r := c.do("POST", "/me/events/"+mine+"/attachments", fileAttachmentBody("a.txt", []byte("a")), nil); r.status != 201 {
		t.Fatalf("organizer POST: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"POST", "POST", "/me/events/" + theirs + "/attachments", fileAttachmentBody("a.txt", []byte("a"))},
		{"DELETE", "DELETE", "/me/events/" + theirs + "/attachments/" + aid, nil},
		{"createUploadSession", "POST", "/me/events/" + theirs + "/attachments/createUploadSession", sessionBody("big", 4<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.body, nil)
			if r.status != 403 || r.code(t) != "ErrorAccessDenied" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	// Reading is fine.
	if r := c.do("GET", "/me/events/"+theirs+"/attachments/"+aid+"/$value", nil, nil); r.status != 200 || string(r.body) != "pdf" {
		t.Fatalf("read: %d %q", r.status, r.body)
	}
}

func TestRequestSizeLimit(t *testing.T) {
	// Base64 of 3 MiB - 1 bytes is ~4.19 MB: over 4 MiB as sent; gzip'ed,
	// random bytes' base64 shrinks to ~76%, about 3.2 MB.
	data := pattern(3<<20 - 1)
	body, _ := json.Marshal(fileAttachmentBody("just-under-3MiB.bin", data))
	gz := gzipBytes(t, body)
	if len(body) <= 4<<20 || len(gz) >= 4<<20 {
		t.Fatalf("test data: body %d, gzip %d", len(body), len(gz))
	}
	plain := map[string]string{"Content-Type": "application/json"}
	zipped := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
	tests := []struct {
		name   string
		opts   Options
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"plain over limit: 400 by default", Options{}, body, plain, 400, "BadRequest"},
		{"plain over limit: 413 setting", Options{RequestLimitStatus: 413}, body, plain, 413, "RequestEntityTooLarge"},
		{"plain over limit: empty 500 setting", Options{RequestLimitStatus: 500}, body, plain, 500, "-"},
		{"plain over limit: the 4MB message", Options{RequestLimitMessage: "The maximum request length supported is 4MB."}, body, plain, 400, "BadRequest"},
		{"gzip under limit on the wire", Options{}, gz, zipped, 201, ""},
		{"gzip counted decoded", Options{RequestLimitDecoded: true}, gz, zipped, 400, "BadRequest"},
		{"plain with a larger limit", Options{RequestLimit: 8 << 20}, body, plain, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := StartT(t, tc.opts)
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("d")
			r := newRaw(t, s, m.Token()).do("POST", "/me/messages/"+draft+"/attachments", tc.body, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, tc.status, r.body)
			}
			if tc.code == "-" {
				if len(r.body) != 0 {
					t.Fatalf("answer %q, want an empty body", r.body)
				}
				return
			}
			if tc.code != "" {
				if r.code(t) != tc.code || !strings.Contains(strings.ToLower(string(r.body)), "maximum request length") {
					t.Fatalf("answer %s", r.body)
				}
				return
			}
			if got := m.Attachments(draft); len(got) != 1 || !bytes.Equal(got[0].Data, data) {
				t.Fatal("attachment not stored intact")
			}
		})
	}
}

func TestPostOverMessageSizeLimit(t *testing.T) {
	s := StartT(t, Options{MessageSizeLimit: 1000, MessageSizeExceededStatus: 413})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	m.AddFileAttachment(draft, "a", "text/plain", make([]byte, 600))
	c := newRaw(t, s, m.Token())
	r := c.do("POST", "/me/messages/"+draft+"/attachments", fileAttachmentBody("b", make([]byte, 401)), nil)
	if r.status != 413 || r.code(t) != "ErrorMessageSizeExceeded" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := c.do("POST", "/me/messages/"+draft+"/attachments", fileAttachmentBody("b", make([]byte, 400)), nil); r.status != http.StatusCreated {
		t.Fatalf("at the limit: %d %s", r.status, r.body)
	}
}

// TestPostFileAttachmentLimits: a POST carries a file under 3 MiB only (larger ones go by
// upload session), even gzip'ed under the request limit; a POST without contentType gets one
// from the name, as Graph fills it in.
func TestPostFileAttachmentLimits(t *testing.T) {
	zipped := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
	tests := []struct {
		name     string
		size     int
		status   int
		wantType string
	}{
		{"just under 3 MiB", 3<<20 - 1, 201, "application/octet-stream"},
		{"3 MiB", 3 << 20, 400, ""},
		{"3.5 MiB", 3<<20 + 1<<19, 400, ""},
		{"20 MiB", 20 << 20, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := StartT(t, Options{MessageSizeLimit: 150 << 20})
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("d")
			body, _ := json.Marshal(fileAttachmentBody("f.bin", make([]byte, tc.size))) // zeros: gzip to little
			r := newRaw(t, s, m.Token()).do("POST", "/me/messages/"+draft+"/attachments", gzipBytes(t, body), zipped)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, tc.status, r.body)
			}
			if n := len(m.Attachments(draft)); (n == 1) != (tc.status == 201) {
				t.Fatalf("%d attachments after %d", n, r.status)
			}
		})
	}
	t.Run("contentType from the name", func(t *testing.T) {
		s := StartT(t, Options{})
		m := s.Emulator.AddMailbox("a@outlookfs.test")
		draft := m.AddDraft("d")
		for name, want := range map[string]string{"report.pdf": "application/pdf", "photo.png": "image/png", "data.zzzunknown": "application/octet-stream"} {
			b := fileAttachmentBody(name, []byte("x"))
			delete(b, "contentType")
			body, _ := json.Marshal(b)
			r := newRaw(t, s, m.Token()).do("POST", "/me/messages/"+draft+"/attachments", body, map[string]string{"Content-Type": "application/json"})
			if r.status != 201 {
				t.Fatalf("%s: status %d %s", name, r.status, r.body)
			}
			var got struct{ ContentType string }
			if err := json.Unmarshal(r.body, &got); err != nil || got.ContentType != want {
				t.Errorf("%s: contentType %q, want %q (%v)", name, got.ContentType, want, err)
			}
		}
	})
}

// TestSelectDerivedNeedsCast: $select on attachments takes fileAttachment's own properties only
// with their cast, as Graph does.
func TestSelectDerivedNeedsCast(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	m.AddFileAttachment(draft, "a.txt", "text/plain", []byte("a"))
	c := newRaw(t, s, m.Token())
	base := "/me/messages/" + draft + "/attachments?$select="
	for sel, want := range map[string]int{
		"id,name": 200,
		"id,microsoft.graph.fileAttachment/contentId": 200,
		"id,contentId":    400,
		"contentBytes":    400,
		"contentLocation": 400,
	} {
		r := c.do("GET", base+sel, nil, nil)
		if r.status != want {
			t.Errorf("$select=%s: %d, want %d: %.200s", sel, r.status, want, r.body)
		}
		if want == 400 && r.code(t) != "RequestBroker--ParseUri" {
			t.Errorf("$select=%s: code %s", sel, r.code(t))
		}
	}
}

// TestMessageSizeEncoded: with MessageSizeEncoded the limit counts the MIME encoding, so 700
// bytes are over a 1,000-byte limit (about 1,270 encoded) that their raw size is under.
func TestMessageSizeEncoded(t *testing.T) {
	for _, encoded := range []bool{false, true} {
		s := StartT(t, Options{MessageSizeLimit: 1000, MessageSizeEncoded: encoded})
		m := s.Emulator.AddMailbox("a@outlookfs.test")
		draft := m.AddDraft("d")
		r := newRaw(t, s, m.Token()).do("POST", "/me/messages/"+draft+"/attachments", fileAttachmentBody("b", make([]byte, 700)), nil)
		want := http.StatusCreated
		if encoded {
			want = http.StatusBadRequest
		}
		if r.status != want {
			t.Errorf("encoded=%v: %d %s, want %d", encoded, r.status, r.body, want)
		}
	}
}
