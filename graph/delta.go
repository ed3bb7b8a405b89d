package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// DraftChanges is one delta round of the Drafts folder.
type DraftChanges struct {
	// Drafts are the new or changed drafts: every draft in a first round.
	Drafts []Draft
	// Removed are the ids of drafts deleted, sent or moved out of Drafts since the last round.
	Removed []string
	// DeltaLink is where the next round starts (on the Graph host; no credential in it).
	DeltaLink string
}

// DraftsDelta asks for what changed in the Drafts folder since deltaLink, or for everything
// (and a first deltaLink) when deltaLink is "". A deltaLink the service no longer knows gives an
// error (410 syncStateNotFound/resyncRequired): start again with "".
func (c *Client) DraftsDelta(ctx context.Context, deltaLink string) (DraftChanges, error) {
	next := deltaLink
	if next == "" {
		next = c.graphURL("/mailFolders/drafts/messages/delta", "$select="+draftSelect)
	}
	header := map[string]string{"Prefer": fmt.Sprintf("odata.maxpagesize=%d", pageSize)}
	var out DraftChanges
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxPages || seen[next] {
			return out, fmt.Errorf("graph: drafts delta: the server keeps sending pages (%d)", page)
		}
		seen[next] = true
		u, err := url.Parse(next)
		if err != nil || !u.IsAbs() || !c.sameOrigin(u) {
			return out, fmt.Errorf("graph: drafts delta: refusing a link outside %s", c.base.Host)
		}
		resp, err := c.do(ctx, &request{op: "drafts delta", method: http.MethodGet, url: next, header: header, idempotent: true})
		if err != nil {
			return out, err
		}
		var p struct {
			Value []struct {
				draftJSON
				Removed *struct {
					Reason string `json:"reason"`
				} `json:"@removed"`
			} `json:"value"`
			NextLink  string `json:"@odata.nextLink"`
			DeltaLink string `json:"@odata.deltaLink"`
		}
		if err := decodeJSON(resp, "drafts delta", &p); err != nil {
			return out, err
		}
		for _, v := range p.Value {
			if v.Removed != nil {
				out.Removed = append(out.Removed, v.ID)
			} else {
				out.Drafts = append(out.Drafts, v.draft())
			}
		}
		switch {
		case p.NextLink != "":
			next = p.NextLink
		case p.DeltaLink != "":
			out.DeltaLink = p.DeltaLink
			return out, nil
		default:
			return out, fmt.Errorf("graph: drafts delta: a page with neither nextLink nor deltaLink")
		}
	}
}
