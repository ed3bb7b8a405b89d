package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// draftSelect is the $select of every draft read.
const draftSelect = "id,subject,createdDateTime,lastModifiedDateTime,hasAttachments"

// pageSize is the $top of listings: few requests, small pages (fields are $select'ed).
const pageSize = 100

type draftJSON struct {
	ID                   string    `json:"id"`
	Subject              string    `json:"subject"`
	CreatedDateTime      graphTime `json:"createdDateTime"`
	LastModifiedDateTime graphTime `json:"lastModifiedDateTime"`
	HasAttachments       bool      `json:"hasAttachments"`
}

func (d draftJSON) draft() Draft {
	return Draft{ID: d.ID, Subject: d.Subject, Created: d.CreatedDateTime.Time,
		LastModified: d.LastModifiedDateTime.Time, HasAttachments: d.HasAttachments}
}

// ListDrafts lists the messages of the Drafts folder, every page.
func (c *Client) ListDrafts(ctx context.Context) ([]Draft, error) {
	first := c.graphURL("/mailFolders/drafts/messages", fmt.Sprintf("$select=%s&$top=%d", draftSelect, pageSize))
	var out []Draft
	err := listPages(ctx, c, "list drafts", first, nil, func(v draftJSON) {
		out = append(out, v.draft())
	})
	return out, err
}

// GetDraft reads one message.
func (c *Client) GetDraft(ctx context.Context, id string) (Draft, error) {
	resp, err := c.do(ctx, &request{
		op: "get draft", method: http.MethodGet, idempotent: true,
		url: c.graphURL("/messages/"+url.PathEscape(id), "$select="+draftSelect),
	})
	if err != nil {
		return Draft{}, err
	}
	var d draftJSON
	if err := decodeJSON(resp, "get draft", &d); err != nil {
		return Draft{}, err
	}
	return d.draft(), nil
}

// CreateDraft creates a message in Drafts. It is not retried after an ambiguous
// failure (a timeout, a cut connection, 504): the draft may exist, and a second
// one would be a duplicate. Such errors satisfy IsTransient.
func (c *Client) CreateDraft(ctx context.Context, subject string) (Draft, error) {
	body, err := json.Marshal(map[string]string{"subject": subject})
	if err != nil {
		return Draft{}, fmt.Errorf("graph: create draft: %w", err)
	}
	resp, err := c.do(ctx, &request{
		op: "create draft", method: http.MethodPost, url: c.graphURL("/messages", ""),
		body: body, contentType: "application/json",
	})
	if err != nil {
		return Draft{}, err
	}
	var d draftJSON
	if err := decodeJSON(resp, "create draft", &d); err != nil {
		return Draft{}, err
	}
	if d.ID == "" {
		return Draft{}, fmt.Errorf("graph: create draft: answer without an id")
	}
	return d.draft(), nil
}

// SetDraftSubject changes a draft's subject (PATCH, idempotent).
func (c *Client) SetDraftSubject(ctx context.Context, id, subject string) error {
	body, err := json.Marshal(map[string]string{"subject": subject})
	if err != nil {
		return fmt.Errorf("graph: set draft subject: %w", err)
	}
	_, err = c.do(ctx, &request{
		op: "set draft subject", method: http.MethodPatch, idempotent: true,
		url:  c.graphURL("/messages/"+url.PathEscape(id), ""),
		body: body, contentType: "application/json",
	})
	return err
}

// DeleteDraft deletes a draft. A 404 after an attempt that may have gone through
// counts as done.
func (c *Client) DeleteDraft(ctx context.Context, id string) error {
	_, err := c.do(ctx, &request{
		op: "delete draft", method: http.MethodDelete, idempotent: true, goneIsDone: true,
		url: c.graphURL("/messages/"+url.PathEscape(id), ""),
	})
	return err
}
