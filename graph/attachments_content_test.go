package graph

import (
	"bytes"
	"context"
	"testing"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// One request lists the attachments with their contents: the bytes of every file attachment
// (inline ones too), none for attached items and links.
func TestListAttachmentsWithContent(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	id := x.mb.AddDraft("With content")
	files := map[string][]byte{"a.txt": []byte("alpha"), "empty.txt": {}, "b.bin": bytes.Repeat([]byte{7}, 70_000)}
	for name, data := range files {
		x.mb.AddFileAttachment(id, name, "application/octet-stream", data)
	}
	x.mb.AddInlineAttachment(id, "logo.png", "image/png", "logo@x", []byte("png"))
	x.mb.AddItemAttachment(id, "Fwd", "message", "Fwd")
	x.mb.AddReferenceAttachment(id, "Link", "https://contoso.sharepoint.com/x")
	x.e.Reset()
	atts, content, err := x.c.ListAttachmentsWithContent(context.Background(), ItemRef{Kind: KindMessage, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 6 {
		t.Fatalf("%d attachments, want 6", len(atts))
	}
	files["logo.png"] = []byte("png")
	for _, a := range atts {
		want, isFile := files[a.Name]
		got, has := content[a.ID]
		switch {
		case isFile && (!has || !bytes.Equal(got, want)):
			t.Errorf("%s: content %d bytes (present %v), want %d", a.Name, len(got), has, len(want))
		case !isFile && has:
			t.Errorf("%s (%s) has content", a.Name, a.Kind)
		}
	}
	if n := len(x.requestsUntil(func(rs []graphtest.RequestRecord) bool { return len(rs) >= 1 })); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
