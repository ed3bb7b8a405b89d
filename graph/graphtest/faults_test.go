package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantStatus []int // statuses of four identical requests
		code       string
		retryAfter string
	}{
		{"first request", Fault{Status: 503}, []int{503, 200, 200, 200}, "ServiceUnavailable", ""},
		{"Nth and Count", Fault{Nth: 2, Count: 2, Status: 504}, []int{200, 504, 504, 200}, "GatewayTimeout", ""},
		{"every request", Fault{Count: -1, Status: 500}, []int{500, 500, 500, 500}, "InternalServerError", ""},
		{"integer Retry-After", Fault{Status: 429, RetryAfter: "3"}, []int{429, 200, 200, 200}, "TooManyRequests", "3"},
		{"fractional Retry-After", Fault{Status: 429, RetryAfter: "2.128"}, []int{429, 200, 200, 200}, "TooManyRequests", "2.128"},
		{"HTTP-date Retry-After", Fault{Status: 503, RetryAfter: "Wed, 21 Oct 2026 07:28:00 GMT"}, []int{503, 200, 200, 200}, "ServiceUnavailable", "Wed, 21 Oct 2026 07:28:00 GMT"},
		{"code override", Fault{Status: 429, Code: "ApplicationThrottled", Message: "Application is over its MailboxConcurrency limit."}, []int{429, 200, 200, 200}, "ApplicationThrottled", ""},
		{"other method does not match", Fault{Method: "DELETE", Status: 500}, []int{200, 200, 200, 200}, "", ""},
		{"other host does not match", Fault{Host: "upload", Status: 500}, []int{200, 200, 200, 200}, "", ""},
		{"other path does not match", Fault{Path: "/events", Status: 500}, []int{200, 200, 200, 200}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := StartT(t, Options{})
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("d")
			c := newRaw(t, s, m.Token())
			f := tc.fault
			if f.Path == "" {
				f.Path = "/messages/"
			}
			s.Emulator.Inject(f)
			for i, want := range tc.wantStatus {
				r := c.do("GET", "/me/messages/"+draft, nil, nil)
				if r.status != want {
					t.Fatalf("request %d: %d, want %d", i+1, r.status, want)
				}
				if want != 200 {
					if r.code(t) != tc.code {
						t.Fatalf("code %q, want %q", r.code(t), tc.code)
					}
					if r.header.Get("Retry-After") != tc.retryAfter {
						t.Fatalf("Retry-After %q, want %q", r.header.Get("Retry-After"), tc.retryAfter)
					}
				}
			}
		})
	}
}

func TestCutFaults(t *testing.T) {
	const size = 4 << 20
	t.Run("cut part way through a PUT body", func(t *testing.T) {
		s, m, c, draft, u, data := newUploadFixture(t, Options{}, size)
		s.Emulator.Inject(Fault{Host: "upload", Method: "PUT", Cut: true, CutAfter: 1 << 20})
		if _, err := c.try(context.Background(), "PUT", u, data[:2<<20], map[string]string{
			"Content-Range": "bytes 0-2097151/4194304",
		}); err == nil {
			t.Fatal("a cut connection answered")
		}
		if next := c.nextOffset(u); next != 0 {
			t.Fatalf("a cut PUT moved the session to %d", next)
		}
		if r := c.uploadAll(u, data, 2<<20); r.status != 201 {
			t.Fatalf("upload after the cut: %d", r.status)
		}
		if got := m.Attachments(draft); len(got) != 1 || !bytes.Equal(got[0].Data, data) {
			t.Fatal("content differs")
		}
		var cut *RequestRecord
		for _, r := range s.Emulator.Requests() {
			if r.Fault != "" {
				cut = &r
			}
		}
		if cut == nil || cut.Status != 0 || cut.BytesIn < 1<<20 || !strings.Contains(cut.Fault, "cut") {
			t.Fatalf("request log of the cut: %+v", cut)
		}
	})
	t.Run("cut a Graph GET", func(t *testing.T) {
		s := StartT(t, Options{})
		m := s.Emulator.AddMailbox("a@outlookfs.test")
		draft := m.AddDraft("d")
		c := newRaw(t, s, m.Token())
		s.Emulator.Inject(Fault{Host: "graph", Cut: true})
		if _, err := c.try(context.Background(), "GET", "/me/messages/"+draft, nil, nil); err == nil {
			t.Fatal("a cut connection answered")
		}
		if r := c.do("GET", "/me/messages/"+draft, nil, nil); r.status != 200 {
			t.Fatalf("next request: %d", r.status)
		}
	})
	t.Run("apply then fail an intermediate PUT", func(t *testing.T) {
		s, _, c, _, u, data := newUploadFixture(t, Options{}, size)
		s.Emulator.Inject(Fault{Host: "upload", Method: "PUT", ApplyThenFail: true, Status: 503})
		r := c.put(u, data, 0, 2<<20-1)
		if r.status != 503 {
			t.Fatalf("status %d", r.status)
		}
		if next := c.nextOffset(u); next != 2<<20 {
			t.Fatalf("the session is at %d: the bytes were not applied", next)
		}
	})
	t.Run("apply then cut the final PUT", func(t *testing.T) {
		s, m, c, draft, u, data := newUploadFixture(t, Options{}, size)
		s.Emulator.Inject(Fault{Host: "upload", Method: "PUT", Nth: 2, ApplyThenFail: true, Cut: true})
		if r := c.put(u, data, 0, 2<<20-1); r.status != 200 {
			t.Fatalf("first PUT: %d", r.status)
		}
		if _, err := c.try(context.Background(), "PUT", u, data[2<<20:], map[string]string{
			"Content-Range": "bytes 2097152-4194303/4194304",
		}); err == nil {
			t.Fatal("the final PUT answered")
		}
		// The attachment exists although the client never heard so.
		if got := m.Attachments(draft); len(got) != 1 || !bytes.Equal(got[0].Data, data) {
			t.Fatalf("%d attachments", len(got))
		}
		if r := c.do("GET", u, nil, nil); r.status != 404 {
			t.Fatalf("status of a completed session: %d", r.status)
		}
	})
	t.Run("apply then fail a POST", func(t *testing.T) {
		s := StartT(t, Options{})
		m := s.Emulator.AddMailbox("a@outlookfs.test")
		draft := m.AddDraft("d")
		c := newRaw(t, s, m.Token())
		s.Emulator.Inject(Fault{Method: "POST", Path: "/attachments", ApplyThenFail: true})
		r := c.do("POST", "/me/messages/"+draft+"/attachments", fileAttachmentBody("a", []byte("a")), nil)
		if r.status != 500 || len(m.Attachments(draft)) != 1 {
			t.Fatalf("status %d, %d attachments", r.status, len(m.Attachments(draft)))
		}
	})
}

func TestDelayFault(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	s.Emulator.Inject(Fault{Path: "/messages/", Delay: 150 * time.Millisecond})
	start := time.Now()
	if r := c.do("GET", "/me/messages/"+draft, nil, nil); r.status != 200 {
		t.Fatalf("delayed request: %d", r.status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, before the delay", d)
	}
	recs := s.Emulator.Requests()
	if last := recs[len(recs)-1]; last.End.Sub(last.Start) < 150*time.Millisecond || last.Fault != "delay 150ms" {
		t.Fatalf("log %+v", last)
	}
}

func TestControlEndpoints(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	draft := m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	ctl := newRaw(t, s, "") // control endpoints need no token

	faults := `[{"host":"graph","method":"GET","path":"/messages/","status":503,"retryAfter":"Wed, 21 Oct 2026 07:28:00 GMT","delay":"10ms"},
	            {"host":"any","path":"/attachments","nth":2,"count":-1,"status":429,"code":"ApplicationThrottled"}]`
	if r := ctl.do("POST", s.RootURL+"/_emulator/faults", []byte(faults), nil); r.status != 204 {
		t.Fatalf("POST faults: %d %s", r.status, r.body)
	}
	r := ctl.do("GET", s.RootURL+"/_emulator/faults", nil, nil)
	var listed []Fault
	if err := json.Unmarshal(r.body, &listed); err != nil || len(listed) != 2 || listed[0].Delay != 10*time.Millisecond || listed[1].Count != -1 {
		t.Fatalf("GET faults: %v %s", err, r.body)
	}
	r = c.do("GET", "/me/messages/"+draft, nil, nil)
	if r.status != 503 || r.header.Get("Retry-After") != "Wed, 21 Oct 2026 07:28:00 GMT" {
		t.Fatalf("injected over HTTP: %d %q", r.status, r.header.Get("Retry-After"))
	}
	if r := c.do("GET", "/me/messages/"+draft+"/attachments", nil, nil); r.status != 200 {
		t.Fatalf("1st attachments: %d", r.status)
	}
	for range 2 {
		if r := c.do("GET", "/me/messages/"+draft+"/attachments", nil, nil); r.status != 429 {
			t.Fatalf("attachments after the Nth: %d", r.status)
		}
	}
	if r := ctl.do("POST", s.RootURL+"/_emulator/faults", []byte(`{"status":"x"}`), nil); r.status != 400 {
		t.Fatalf("bad fault: %d", r.status)
	}

	if r := ctl.do("GET", s.RootURL+"/_emulator/stats", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"maxInFlight":1`) || !strings.Contains(string(r.body), `"inFlight":0`) {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	if r := ctl.do("POST", s.RootURL+"/_emulator/reset", nil, nil); r.status != 204 {
		t.Fatalf("reset: %d", r.status)
	}
	if len(s.Emulator.Faults()) != 0 || len(s.Emulator.Requests()) != 0 || s.Emulator.MaxInFlight("a@outlookfs.test") != 0 {
		t.Fatal("reset left faults, log or counters")
	}
	if r := c.do("GET", "/me/messages/"+draft+"/attachments", nil, nil); r.status != 200 {
		t.Fatalf("after reset: %d", r.status)
	}
	s.Emulator.Inject(Fault{Status: 500})
	if r := ctl.do("DELETE", s.RootURL+"/_emulator/faults", nil, nil); r.status != 204 || len(s.Emulator.Faults()) != 0 {
		t.Fatalf("DELETE faults: %d", r.status)
	}
	_ = http.StatusOK
}

func TestRequestLog(t *testing.T) {
	s, _, c, draft, u, data := newUploadFixture(t, Options{}, 3<<20+5)
	c.uploadAll(u, data, 2<<20)
	c.do("GET", "/me/messages/"+draft+"/attachments?$select=id,name", nil, nil)
	c.do("PUT", u, []byte("x"), map[string]string{"Content-Range": "bytes 0-0/1", "Authorization": "Bearer " + c.tok})

	r := newRaw(t, s, "").do("GET", s.RootURL+"/_emulator/requests", nil, nil)
	secret := u[strings.Index(u, "authtoken=")+len("authtoken="):]
	for _, forbidden := range []string{"authtoken", secret, c.tok, "$select"} {
		if bytes.Contains(r.body, []byte(forbidden)) {
			t.Fatalf("request log contains %q", forbidden)
		}
	}
	var recs []RequestRecord
	if err := json.Unmarshal(r.body, &recs); err != nil {
		t.Fatal(err)
	}
	// create session, 2 PUTs, GET attachments, refused PUT
	if len(recs) != 5 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	put := recs[1]
	if put.Host != "upload" || put.Method != "PUT" || put.Status != 200 || put.BytesIn != 2<<20 ||
		put.Range != "bytes 0-2097151/3145733" || put.Mailbox != "a@outlookfs.test" || put.End.Before(put.Start) {
		t.Fatalf("PUT record %+v", put)
	}
	if final := recs[2]; final.Status != 201 || final.BytesOut != 0 {
		t.Fatalf("final record %+v", final)
	}
	if get := recs[3]; get.Host != "graph" || get.Path != "/v1.0/me/messages/"+draft+"/attachments" || get.BytesOut == 0 {
		t.Fatalf("GET record %+v", get)
	}
	if refused := recs[4]; refused.Status != 401 {
		t.Fatalf("refused record %+v", refused)
	}
}
