package graphtest

import (
	"bytes"
	"net/http"
	"testing"
)

func TestUploadRoundTrip(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	id := m.AddDraft("hello")
	c := newRaw(t, s, m.Token())
	data := pattern(5<<20 + 123)
	u := c.createSession("/me/messages/"+id, "big.bin", int64(len(data)))
	final := c.uploadAll(u, data, 2<<20)
	if final.status != http.StatusCreated || len(final.body) != 0 {
		t.Fatalf("final: %d %q", final.status, final.body)
	}
	aid := attachmentIDFromLocation(t, final.header.Get("Location"))
	got := c.do("GET", "/me/messages/"+id+"/attachments/"+aid+"/$value", nil, nil)
	if got.status != 200 || !bytes.Equal(got.body, data) {
		t.Fatalf("$value: %d, %d bytes, equal=%v", got.status, len(got.body), bytes.Equal(got.body, data))
	}
}
