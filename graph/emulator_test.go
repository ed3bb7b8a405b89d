package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// fetch downloads an attachment's $value and checks its declared length.
func fetch(c *Client, item ItemRef, id string) ([]byte, error) {
	rc, n, err := c.DownloadAttachment(context.Background(), item, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return b, err
	}
	if n != -1 && n != int64(len(b)) {
		return b, fmt.Errorf("Content-Length %d, body %d", n, len(b))
	}
	return b, nil
}

func download(t *testing.T, c *Client, item ItemRef, id string) []byte {
	t.Helper()
	b, err := fetch(c, item, id)
	if err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	return b
}

func TestEmulatorDrafts(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	ctx := context.Background()
	for i := range 230 {
		x.mb.AddDraft(fmt.Sprintf("seeded %03d", i))
	}
	d, err := x.c.CreateDraft(ctx, "Quarterly report / Q3 ✓")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == "" || d.Subject != "Quarterly report / Q3 ✓" || d.Created.IsZero() {
		t.Fatalf("created %+v", d)
	}
	ds, err := x.c.ListDrafts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 231 {
		t.Fatalf("listed %d drafts, want 231 (paging)", len(ds))
	}
	if !slices.ContainsFunc(ds, func(v Draft) bool { return v.ID == d.ID && v.Subject == d.Subject }) {
		t.Fatal("the new draft is not listed")
	}
	countPages := func(rs []graphtest.RequestRecord) (n int) {
		for _, r := range rs {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/mailFolders/drafts/messages") {
				n++
			}
		}
		return n
	}
	pages := countPages(x.requestsUntil(func(rs []graphtest.RequestRecord) bool { return countPages(rs) >= 3 }))
	if pages != 3 {
		t.Fatalf("%d pages fetched, want 3 of 100", pages)
	}
	if err := x.c.SetDraftSubject(ctx, d.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	got, err := x.c.GetDraft(ctx, d.ID)
	if err != nil || got.Subject != "renamed" {
		t.Fatalf("GetDraft = %+v, %v", got, err)
	}
	if it, ok := x.mb.Item(d.ID); !ok || it.Subject != "renamed" {
		t.Fatalf("the emulator has %+v", it)
	}
	if err := x.c.DeleteDraft(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := x.mb.Item(d.ID); ok {
		t.Fatal("the draft still exists")
	}
	if _, err := x.c.GetDraft(ctx, d.ID); !IsNotFound(err) {
		t.Fatalf("GetDraft of a deleted draft: %v", err)
	}
	if err := x.c.DeleteDraft(ctx, d.ID); !IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
	var ge *Error
	if _, err := x.c.GetDraft(ctx, d.ID); !errors.As(err, &ge) || ge.Code == "" || ge.RequestID == "" {
		t.Fatalf("error without code or request id: %+v", ge)
	}
}

func TestEmulatorUsersPrefix(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	id := x.mb.AddDraft("for the app")
	c, err := New(Config{BaseURL: x.srv.GraphURL, Mailbox: testUPN, Tokens: StaticToken(x.e.AppToken()), HTTPClient: x.srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.ListDrafts(context.Background())
	if err != nil || len(ds) != 1 || ds[0].ID != id {
		t.Fatalf("ListDrafts = %+v, %v", ds, err)
	}
	// An app-only token cannot use /me.
	c2, _ := New(Config{BaseURL: x.srv.GraphURL, Tokens: StaticToken(x.e.AppToken()), HTTPClient: x.srv.HTTPClient()})
	if _, err := c2.ListDrafts(context.Background()); err == nil {
		t.Fatal("/me with an app token worked")
	}
}

func TestEmulatorEvents(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	in1 := x.mb.AddEvent("Standup", base, base.Add(15*time.Minute), true)
	in2 := x.mb.AddEvent("Review", base.Add(48*time.Hour), base.Add(49*time.Hour), false)
	x.mb.AddEvent("Long ago", base.AddDate(-1, 0, 0), base.AddDate(-1, 0, 0).Add(time.Hour), true)
	for i := range 120 {
		x.mb.AddEvent(fmt.Sprintf("filler %d", i), base.Add(time.Duration(i)*time.Hour), base.Add(time.Duration(i)*time.Hour+time.Minute), false)
	}
	evs, err := x.c.ListEvents(context.Background(), base.Add(-24*time.Hour), base.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 122 {
		t.Fatalf("listed %d events, want 122", len(evs))
	}
	byID := map[string]Event{}
	for _, e := range evs {
		byID[e.ID] = e
	}
	e1, e2 := byID[in1], byID[in2]
	if e1.Subject != "Standup" || !e1.Start.Equal(base) || !e1.End.Equal(base.Add(15*time.Minute)) || !e1.IsOrganizer || e1.Start.Location() != time.UTC {
		t.Fatalf("Standup = %+v", e1)
	}
	if e2.Subject != "Review" || !e2.Start.Equal(base.Add(48*time.Hour)) || e2.IsOrganizer {
		t.Fatalf("Review = %+v", e2)
	}
}

func TestEmulatorAttachments(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	ctx := context.Background()
	did := x.mb.AddDraft("with attachments")
	eid := x.mb.AddEvent("meeting", time.Now(), time.Now().Add(time.Hour), true)
	for _, item := range []ItemRef{{Kind: KindMessage, ID: did}, {Kind: KindEvent, ID: eid}} {
		t.Run(item.Kind.String(), func(t *testing.T) {
			fileData := testData(5000)
			fid := x.mb.AddFileAttachment(item.ID, "report.pdf", "application/pdf", fileData)
			iid := x.mb.AddInlineAttachment(item.ID, "logo.png", "image/png", "logo@x", []byte("PNG..."))
			mid := x.mb.AddItemAttachment(item.ID, "forwarded", "message", "Fwd: hi")
			rid := x.mb.AddReferenceAttachment(item.ID, "link", "https://contoso.sharepoint.com/x")
			as, err := x.c.ListAttachments(ctx, item)
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != 4 {
				t.Fatalf("listed %+v", as)
			}
			got := map[string]Attachment{}
			for _, a := range as {
				got[a.ID] = a
			}
			if a := got[fid]; a.Kind != FileAttachment || a.Name != "report.pdf" || a.ContentType != "application/pdf" || a.Size <= 5000 || a.IsInline || a.LastModified.IsZero() {
				t.Fatalf("file = %+v", a)
			}
			if a := got[iid]; a.Kind != FileAttachment || !a.IsInline || a.ContentID != "logo@x" {
				t.Fatalf("inline = %+v", a)
			}
			if a := got[mid]; a.Kind != ItemAttachment || a.Name != "forwarded" {
				t.Fatalf("item = %+v", a)
			}
			if a := got[rid]; a.Kind != ReferenceAttachment {
				t.Fatalf("reference = %+v", a)
			}
			if b := download(t, x.c, item, fid); !bytes.Equal(b, fileData) {
				t.Fatal("file content differs")
			}
			if b := download(t, x.c, item, mid); !bytes.Contains(b, []byte("Fwd: hi")) {
				t.Fatalf("item attachment $value = %q", b)
			}
			if _, _, err := x.c.DownloadAttachment(ctx, item, rid); err == nil {
				t.Fatal("reference attachment $value worked")
			} else if ge, ok := asError(err); !ok || ge.Status != http.StatusMethodNotAllowed {
				t.Fatalf("reference $value: %v", err)
			}
			if err := x.c.DeleteAttachment(ctx, item, fid); err != nil {
				t.Fatal(err)
			}
			if err := x.c.DeleteAttachment(ctx, item, fid); !IsNotFound(err) {
				t.Fatalf("second delete: %v", err)
			}
			if _, _, err := x.c.DownloadAttachment(ctx, item, fid); !IsNotFound(err) {
				t.Fatalf("$value of a deleted attachment: %v", err)
			}
			as, _ = x.c.ListAttachments(ctx, item)
			if len(as) != 3 {
				t.Fatalf("after delete: %+v", as)
			}
			if len(x.c.sem) != 0 {
				t.Fatalf("%d request slots still held", len(x.c.sem))
			}
		})
	}
}

func TestEmulatorUploadSizes(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	ctx := context.Background()
	sizes := []int{0, 1, MinUploadSessionSize - 1, MinUploadSessionSize, MinUploadSessionSize + 1, MaxRangeSize, MaxRangeSize + 1}
	for _, kind := range []ItemKind{KindMessage, KindEvent} {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", kind, size), func(t *testing.T) {
				var item ItemRef
				if kind == KindEvent {
					item = ItemRef{Kind: KindEvent, ID: x.mb.AddEvent("e", time.Now(), time.Now().Add(time.Hour), true)}
				} else {
					item = ItemRef{ID: x.mb.AddDraft("d")}
				}
				x.e.Reset()
				data := testData(size)
				var sessions int
				id, err := x.c.Upload(ctx, item, NewAttachment{Name: "file.bin", ContentType: "application/octet-stream", Size: int64(size)},
					bytes.NewReader(data), UploadOptions{OnSession: func(UploadSession) { sessions++ }})
				if err != nil {
					t.Fatal(err)
				}
				if b := download(t, x.c, item, id); !bytes.Equal(b, data) {
					t.Fatalf("content differs: %d bytes back", len(b))
				}
				wantSessions := 0
				if size >= MinUploadSessionSize {
					wantSessions = 1
				}
				if sessions != wantSessions {
					t.Fatalf("sessions = %d, want %d", sessions, wantSessions)
				}
				want := (size + MaxRangeSize - 1) / MaxRangeSize * wantSessions
				countPuts := func(rs []graphtest.RequestRecord) (n int) {
					for _, r := range rs {
						if r.Host == "upload" && r.Method == "PUT" {
							n++
							if r.BytesIn > MaxRangeSize {
								t.Fatalf("PUT of %d bytes", r.BytesIn)
							}
						}
					}
					return n
				}
				if puts := countPuts(x.requestsUntil(func(rs []graphtest.RequestRecord) bool { return countPuts(rs) >= want })); puts != want {
					t.Fatalf("PUTs = %d, want %d", puts, want)
				}
			})
		}
	}
}

func TestEmulatorMessageSizeLimit(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	ctx := context.Background()
	const limit = 9 << 20
	x.mb.SetMessageSizeLimit(limit)
	for _, tc := range []struct {
		size   int
		wantOK bool
	}{{limit, true}, {limit + 1, false}} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			item := ItemRef{ID: x.mb.AddDraft("limit")}
			data := testData(tc.size)
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			id, err := x.c.Upload(ctx, item, NewAttachment{Name: "big.bin", Size: int64(tc.size)}, bytes.NewReader(data), UploadOptions{})
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(download(t, x.c, item, id), data) {
					t.Fatal("content differs")
				}
				return
			}
			if !IsTooLarge(err) || ctx.Err() != nil {
				t.Fatalf("err = %v (ctx %v)", err, ctx.Err())
			}
			var ge *Error
			if !errors.As(err, &ge) || ge.Code != CodeMessageSizeExceeded {
				t.Fatalf("err = %v", err)
			}
			if as := x.mb.Attachments(item.ID); len(as) != 0 {
				t.Fatalf("attachments after a refused upload: %d", len(as))
			}
		})
	}
	t.Run("small POST over the limit", func(t *testing.T) {
		x.mb.SetMessageSizeLimit(1000)
		item := ItemRef{ID: x.mb.AddDraft("tiny limit")}
		_, err := x.c.Upload(ctx, item, NewAttachment{Name: "x", Size: 1001}, bytes.NewReader(testData(1001)), UploadOptions{})
		if !IsTooLarge(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEmulatorMessageSizeLimitDefault(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	const limit = 35 << 20
	item := ItemRef{ID: x.mb.AddDraft("35")}
	data := testData(limit + 1)
	if _, err := x.c.Upload(context.Background(), item, NewAttachment{Name: "over.bin", Size: limit + 1}, bytes.NewReader(data), UploadOptions{}); !IsTooLarge(err) {
		t.Fatalf("35 MiB + 1: %v", err)
	}
	id, err := x.c.Upload(context.Background(), item, NewAttachment{Name: "at.bin", Size: limit}, bytes.NewReader(data[:limit]), UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(download(t, x.c, item, id), data[:limit]) {
		t.Fatal("content differs")
	}
}
