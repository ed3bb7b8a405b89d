package graph

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	for _, base := range []string{"", "graph.microsoft.com/v1.0", "ftp://x/v1.0", "https://x/v1.0?q=1"} {
		if _, err := New(Config{BaseURL: base, Tokens: StaticToken("t")}); err == nil {
			t.Errorf("New accepted base URL %q", base)
		}
	}
	if _, err := New(Config{BaseURL: "https://x/v1.0"}); err == nil {
		t.Error("New accepted a config without Tokens")
	}
}

func TestDefaultClientVerifiesTLS(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(draftsJSON)) })
	c, err := New(Config{BaseURL: fs.URL + "/v1.0", Tokens: StaticToken("t"), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListDrafts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("the default client accepted an untrusted certificate: %v", err)
	}
	if fs.hits.Load() != 0 {
		t.Fatal("a request got through")
	}
}

func TestMailboxPaths(t *testing.T) {
	tests := []struct {
		mailbox string
		want    string
	}{
		{"", "/v1.0/me/mailFolders/drafts/messages"},
		{"me", "/v1.0/me/mailFolders/drafts/messages"},
		{"user@contoso.com", "/v1.0/users/user@contoso.com/mailFolders/drafts/messages"},
		{"we?ird/box", "/v1.0/users/we%3Fird%2Fbox/mailFolders/drafts/messages"},
	}
	for _, tt := range tests {
		var got, query string
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			got, query = r.URL.EscapedPath(), r.URL.RawQuery
			w.Write([]byte(`{"value":[]}`))
		})
		c := newTestClient(t, fs, nil, func(c *Config) { c.Mailbox = tt.mailbox })
		if _, err := c.ListDrafts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("mailbox %q: path %q, want %q", tt.mailbox, got, tt.want)
		}
		if !strings.Contains(query, "$select="+draftSelect) || !strings.Contains(query, "$top=100") {
			t.Errorf("query %q lacks $select/$top", query)
		}
	}
}

func TestPagingFollowsNextLink(t *testing.T) {
	var fs *fakeServer
	fs = newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			fmt.Fprintf(w, `{"value":[{"id":"a"}],"@odata.nextLink":"%s/v1.0/me/mailFolders/drafts/messages?$skiptoken=p2%%3D%%3D&$top=100"}`, fs.URL)
		case "p2==":
			fmt.Fprintf(w, `{"value":[{"id":"b"},{"id":"c"}]}`)
		default:
			t.Errorf("unexpected query %q", r.URL.RawQuery)
		}
	})
	c := newTestClient(t, fs, nil, nil)
	ds, err := c.ListDrafts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || ds[2].ID != "c" {
		t.Fatalf("drafts = %+v", ds)
	}
}

func TestPagingRefusesForeignNextLink(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value":[{"id":"a"}],"@odata.nextLink":"https://evil.example/v1.0/me/messages?page=2"}`)
	})
	c := newTestClient(t, fs, nil, nil)
	if _, err := c.ListDrafts(context.Background()); err == nil {
		t.Fatal("followed a nextLink to another host (with our token)")
	}
	if fs.hits.Load() != 1 {
		t.Fatalf("requests = %d", fs.hits.Load())
	}
}

func TestListEventsUTC(t *testing.T) {
	var prefer, query string
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		prefer, query = r.Header.Get("Prefer"), r.URL.RawQuery
		fmt.Fprint(w, `{"value":[
		 {"id":"e1","subject":"Standup","isOrganizer":true,
		  "start":{"dateTime":"2026-11-24T10:00:00.0000000","timeZone":"UTC"},
		  "end":{"dateTime":"2026-11-24T10:15:00.0000000","timeZone":"UTC"},
		  "lastModifiedDateTime":"2026-11-20T08:00:00Z"},
		 {"id":"bad","subject":"unreadable","start":{"dateTime":"soon","timeZone":"UTC"},"end":{"dateTime":"later","timeZone":"UTC"}},
		 {"id":"e2","subject":"Berlin",
		  "start":{"dateTime":"2026-11-24T10:00:00","timeZone":"Europe/Berlin"},
		  "end":{"dateTime":"2026-11-24T11:00:00","timeZone":"Europe/Berlin"}}]}`)
	})
	c := newTestClient(t, fs, nil, nil)
	loc := time.FixedZone("X", 3600)
	evs, err := c.ListEvents(context.Background(), time.Date(2026, 11, 1, 1, 0, 0, 0, loc), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if prefer != `outlook.timezone="UTC"` {
		t.Errorf("Prefer = %q", prefer)
	}
	if !strings.Contains(query, "startDateTime=2026-11-01T00%3A00%3A00Z") || !strings.Contains(query, "endDateTime=2026-12-01T00%3A00%3A00Z") ||
		!strings.Contains(query, "$select="+eventSelect) {
		t.Errorf("query = %q", query)
	}
	if len(evs) != 2 {
		t.Fatalf("events = %+v", evs)
	}
	e := evs[0]
	if !e.Start.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) || !e.End.Equal(time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)) ||
		!e.IsOrganizer || e.Subject != "Standup" || !e.LastModified.Equal(time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("event = %+v", e)
	}
	if !evs[1].Start.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)) || evs[1].IsOrganizer {
		t.Errorf("Berlin event = %+v", evs[1])
	}
}

func TestAttachmentKinds(t *testing.T) {
	tests := map[string]AttachmentKind{
		"#microsoft.graph.fileAttachment":      FileAttachment,
		"#microsoft.graph.itemAttachment":      ItemAttachment,
		"#microsoft.graph.referenceAttachment": ReferenceAttachment,
		"microsoft.graph.FileAttachment":       FileAttachment,
		"":                                     FileAttachment,
		"#microsoft.graph.newThingAttachment":  "newthing",
	}
	for in, want := range tests {
		if got := attachmentKind(in); got != want {
			t.Errorf("attachmentKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListAttachmentsSelectFallback(t *testing.T) {
	var selects []string
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		sel := r.URL.Query().Get("$select")
		selects = append(selects, sel)
		if strings.Contains(sel, "/") {
			writeGraphError(w, 400, "BadRequest", "Could not find a property named 'microsoft.graph.fileAttachment'")
			return
		}
		fmt.Fprint(w, `{"value":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"x.png","contentType":"image/png","size":300,"isInline":true,"contentId":"cid1","lastModifiedDateTime":"2026-11-22T07:00:00Z"}]}`)
	})
	c := newTestClient(t, fs, nil, nil)
	for range 2 {
		as, err := c.ListAttachments(context.Background(), ItemRef{Kind: KindEvent, ID: "e1"})
		if err != nil {
			t.Fatal(err)
		}
		want := Attachment{ID: "a1", Name: "x.png", ContentType: "image/png", Kind: FileAttachment, Size: 300,
			IsInline: true, ContentID: "cid1", LastModified: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
		if len(as) != 1 || as[0] != want {
			t.Fatalf("attachments = %+v", as)
		}
	}
	want := []string{attachmentSelectDerived, attachmentSelectBase, attachmentSelectBase}
	if fmt.Sprint(selects) != fmt.Sprint(want) {
		t.Fatalf("selects = %q, want %q", selects, want)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	var cur, peak atomic.Int64
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		w.Write([]byte(draftsJSON))
	})
	c := newTestClient(t, fs, nil, func(c *Config) { c.MaxInFlight = 2 })
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, err := c.ListDrafts(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrency %d with MaxInFlight 2", p)
	}
}

func TestDownloadHoldsSlotUntilClose(t *testing.T) {
	release := make(chan struct{})
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/$value") {
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("01234"))
			w.(http.Flusher).Flush()
			<-release
			w.Write([]byte("56789"))
			return
		}
		w.Write([]byte(draftsJSON))
	})
	c := newTestClient(t, fs, nil, func(c *Config) { c.MaxInFlight = 1 })
	rc, n, err := c.DownloadAttachment(context.Background(), ItemRef{ID: "m"}, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Fatalf("length = %d", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = c.ListDrafts(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second request got a slot while the download was open: %v", err)
	}
	close(release)
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("body %q, %v", b, err)
	}
	rc.Close()
	rc.Close() // a second Close must not release twice
	if _, err := c.ListDrafts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(c.sem) != 0 {
		t.Fatalf("%d slots still held", len(c.sem))
	}
}

func TestSmallAttachmentGzipBoundary(t *testing.T) {
	type seen struct {
		encoding string
		length   int
		decoded  []byte
	}
	var last seen
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		last = seen{encoding: r.Header.Get("Content-Encoding"), length: len(raw), decoded: raw}
		if last.encoding == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(string(raw)))
			if err != nil {
				t.Error(err)
				return
			}
			last.decoded, _ = io.ReadAll(zr)
		}
		var v struct {
			ODataType    string `json:"@odata.type"`
			Name         string `json:"name"`
			ContentBytes []byte `json:"contentBytes"`
		}
		if err := json.Unmarshal(last.decoded, &v); err != nil || v.ODataType != "#microsoft.graph.fileAttachment" {
			t.Errorf("body %v %q", err, v.ODataType)
		}
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"@odata.type":"#microsoft.graph.fileAttachment","id":"a-%d","name":%q,"size":%d}`, len(v.ContentBytes), v.Name, len(v.ContentBytes)+200)
	})
	a := NewAttachment{Name: "f.bin", ContentType: "application/octet-stream"}
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	body, _ := json.Marshal(newFileAttachmentJSON{ODataType: "#microsoft.graph.fileAttachment", Name: a.Name,
		ContentType: a.ContentType, ContentBytes: data})
	for _, tc := range []struct {
		limit    int64
		wantGzip bool
	}{{int64(len(body)), false}, {int64(len(body)) - 1, true}, {int64(len(body)) + 1, false}} {
		c := newTestClient(t, fs, nil, func(c *Config) { c.RequestLimit = tc.limit })
		att, err := c.AddSmallAttachment(context.Background(), ItemRef{ID: "m"}, a, data)
		if err != nil {
			t.Fatal(err)
		}
		if att.ID != "a-3000" || att.Kind != FileAttachment {
			t.Fatalf("attachment %+v", att)
		}
		if (last.encoding == "gzip") != tc.wantGzip || string(last.decoded) != string(body) {
			t.Fatalf("limit %d (body %d): encoding %q, want gzip %v", tc.limit, len(body), last.encoding, tc.wantGzip)
		}
		if tc.wantGzip && int64(last.length) > tc.limit {
			t.Fatalf("gzip'ed body %d still over %d", last.length, tc.limit)
		}
	}
	// The real boundary: 3 MiB - 1 of incompressible bytes under the default 4 MiB
	// limit goes gzip'ed and fits; a small file goes as is.
	c := newTestClient(t, fs, nil, nil)
	big := make([]byte, MinUploadSessionSize-1)
	seed := uint32(1)
	for i := range big {
		seed = seed*1664525 + 1013904223
		big[i] = byte(seed >> 24)
	}
	if _, err := c.AddSmallAttachment(context.Background(), ItemRef{ID: "m"}, a, big); err != nil {
		t.Fatal(err)
	}
	if last.encoding != "gzip" || last.length > DefaultRequestLimit || len(last.decoded) <= DefaultRequestLimit {
		t.Fatalf("3 MiB-1: encoding %q, %d bytes on the wire, %d decoded", last.encoding, last.length, len(last.decoded))
	}
	if _, err := c.AddSmallAttachment(context.Background(), ItemRef{ID: "m"}, a, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if last.encoding != "" {
		t.Fatalf("a 1-byte file went gzip'ed")
	}
}

// lateReader is a transport that answers at once and reads the request body only later, as
// Go's transport may when the server answered before reading it all.
type lateReader struct {
	read chan []byte // what the late read got (nil: refused)
}

func (l *lateReader) RoundTrip(r *http.Request) (*http.Response, error) {
	body := r.Body
	go func() {
		time.Sleep(50 * time.Millisecond)
		b, err := io.ReadAll(body)
		if err != nil {
			b = nil
		}
		l.read <- b
	}()
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":["4"]}`)),
		Request: r,
	}, nil
}

// Once PutRange returns, the transport can no longer read the caller's bytes: the spool
// reuses (or unmaps) its upload buffers then.
func TestRequestBodyNotReadAfterTheCall(t *testing.T) {
	lr := &lateReader{read: make(chan []byte, 1)}
	c, err := New(Config{BaseURL: "https://graph.invalid/v1.0", Tokens: StaticToken("t"), HTTPClient: &http.Client{Transport: lr}})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("ABCD")
	s := UploadSession{URL: "https://upload.invalid/session?authtoken=x", Expires: time.Now().Add(time.Hour)}
	if _, err := c.PutRange(context.Background(), s, 0, data, 8); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXX") // the caller reuses its buffer
	if got := <-lr.read; got != nil {
		t.Fatalf("the transport read %q from the caller's buffer after PutRange returned", got)
	}
}
