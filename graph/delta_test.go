package graph

import (
	"context"
	"sort"
	"testing"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// A first round lists every draft over pages; later rounds only what changed, deletions
// included; an unknown delta link is an error (the caller starts over).
func TestDraftsDelta(t *testing.T) {
	x := startEmu(t, graphtest.Options{}, nil)
	ctx := context.Background()
	ids := map[string]string{}
	for _, s := range []string{"one", "two", "three"} {
		ids[s] = x.mb.AddDraft(s)
	}
	for i := 0; i < 150; i++ { // more than one page of 100
		x.mb.AddDraft("filler")
	}
	first, err := x.c.DraftsDelta(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Drafts) != 153 || len(first.Removed) != 0 || first.DeltaLink == "" {
		t.Fatalf("first round: %d drafts, %d removed, link %q", len(first.Drafts), len(first.Removed), first.DeltaLink)
	}
	// nothing changed: an empty round
	same, err := x.c.DraftsDelta(ctx, first.DeltaLink)
	if err != nil || len(same.Drafts) != 0 || len(same.Removed) != 0 {
		t.Fatalf("unchanged round: %+v, %v", same, err)
	}
	x.mb.SetSubject(ids["one"], "uno")
	x.mb.DeleteItem(ids["two"])
	four := x.mb.AddDraft("four")
	round, err := x.c.DraftsDelta(ctx, same.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, d := range round.Drafts {
		changed = append(changed, d.Subject)
	}
	sort.Strings(changed)
	if len(changed) != 2 || changed[0] != "four" || changed[1] != "uno" {
		t.Errorf("changed: %v, want [four uno]", changed)
	}
	if len(round.Removed) != 1 || round.Removed[0] != ids["two"] {
		t.Errorf("removed: %v, want [%s]", round.Removed, ids["two"])
	}
	_ = four
	if _, err := x.c.DraftsDelta(ctx, x.srv.GraphURL+"/me/mailFolders/drafts/messages/delta?$deltatoken=bogus"); err == nil {
		t.Error("a bogus delta link was accepted")
	}
}
