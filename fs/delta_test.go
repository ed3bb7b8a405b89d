package fs

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDraftsAfterDeltaExpired: when Graph forgets the drafts' delta state (410
// SyncStateNotFound), drafts/ is listed anew: a draft added in Outlook meanwhile shows up and
// one deleted there goes, and the listing never fails.
func TestDraftsAfterDeltaExpired(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drafts := filepath.Join(h.dir, "drafts")
	gone := h.mb.AddDraft("Deleted in Outlook")
	h.relist(drafts, &h.fsys.drafts)
	if out := h.must("ls", drafts); !strings.Contains(out, "Deleted in Outlook") {
		t.Fatalf("drafts/ lists %q", out)
	}
	h.srv.Emulator.ExpireDeltaTokens()
	h.mb.AddDraft("Added in Outlook")
	h.mb.DeleteItem(gone)
	h.relist(drafts, &h.fsys.drafts)
	out := h.must("ls", drafts)
	if !strings.Contains(out, "Added in Outlook") || strings.Contains(out, "Deleted in Outlook") {
		t.Fatalf("after the delta state expired, drafts/ lists %q", out)
	}
	// The emulator did refuse the old token: the test exercised the fallback.
	saw410 := false
	for _, r := range h.srv.Emulator.Requests() {
		saw410 = saw410 || (r.Status == 410 && strings.HasSuffix(r.Path, "/delta"))
	}
	if !saw410 {
		t.Fatal("no delta request was answered 410: the fallback was not exercised")
	}
}
