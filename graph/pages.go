package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// maxPages bounds a listing, in case a server keeps sending nextLinks.
const maxPages = 10000

// listPages GETs first and then every @odata.nextLink, verbatim, until there is
// none, calling each for every value. A nextLink is followed only on the
// configured Graph host, so the bearer token never goes anywhere else.
func listPages[T any](ctx context.Context, c *Client, op, first string, header map[string]string, each func(T)) error {
	next := first
	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page >= maxPages || seen[next] {
			return fmt.Errorf("graph: %s: the server keeps sending pages (%d)", op, page)
		}
		seen[next] = true
		resp, err := c.do(ctx, &request{op: op, method: http.MethodGet, url: next, header: header, idempotent: true})
		if err != nil {
			return err
		}
		var p struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := decodeJSON(resp, op, &p); err != nil {
			return err
		}
		for _, v := range p.Value {
			each(v)
		}
		next = p.NextLink
		if next != "" {
			u, err := url.Parse(next)
			if err != nil || !u.IsAbs() || !c.sameOrigin(u) {
				return fmt.Errorf("graph: %s: refusing a nextLink outside %s", op, c.base.Host)
			}
		}
	}
	return nil
}

// decodeJSON decodes a 2xx answer's body into v.
func decodeJSON(resp *response, op string, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("graph: %s: decoding the %d answer: %w", op, resp.status, err)
	}
	return nil
}
