package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// Attachment listings $select the base fields, plus contentId, which only file
// attachments have. OData names a derived type's property with a cast
// ("microsoft.graph.fileAttachment/contentId"); a service that refuses the cast
// with 400 is asked again without it, and the client remembers that.
const (
	attachmentSelectBase    = "id,name,contentType,size,isInline,lastModifiedDateTime"
	attachmentSelectDerived = attachmentSelectBase + ",microsoft.graph.fileAttachment/contentId"
)

// selectFallback remembers that the service refused the derived $select.
type selectFallback struct{ baseOnly atomic.Bool }

type attachmentJSON struct {
	ODataType            string    `json:"@odata.type"`
	ID                   string    `json:"id"`
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType"`
	Size                 int64     `json:"size"`
	IsInline             bool      `json:"isInline"`
	ContentID            string    `json:"contentId"`
	LastModifiedDateTime graphTime `json:"lastModifiedDateTime"`
}

func (a attachmentJSON) attachment() Attachment {
	return Attachment{ID: a.ID, Name: a.Name, ContentType: a.ContentType, Kind: attachmentKind(a.ODataType),
		Size: a.Size, IsInline: a.IsInline, ContentID: a.ContentID, LastModified: a.LastModifiedDateTime.Time}
}

// attachmentKind maps "#microsoft.graph.fileAttachment" and friends to a Kind.
// An absent type is a file attachment (the base type has no content of its own,
// and only file attachments are listed without one in practice); an unknown
// type keeps its short name, without "Attachment".
func attachmentKind(odataType string) AttachmentKind {
	t := strings.ToLower(strings.TrimPrefix(odataType, "#"))
	t = strings.TrimPrefix(t, "microsoft.graph.")
	switch t {
	case "", "fileattachment":
		return FileAttachment
	case "itemattachment":
		return ItemAttachment
	case "referenceattachment":
		return ReferenceAttachment
	}
	return AttachmentKind(strings.TrimSuffix(t, "attachment"))
}

func (c *Client) attachmentsURL(item ItemRef, rest, rawQuery string) string {
	return c.graphURL(item.path()+"/attachments"+rest, rawQuery)
}

// ListAttachments lists an item's attachments, without their content.
func (c *Client) ListAttachments(ctx context.Context, item ItemRef) ([]Attachment, error) {
	if !c.attachmentSelect.baseOnly.Load() {
		out, err := c.listAttachments(ctx, item, attachmentSelectDerived)
		e, ok := asError(err)
		if !ok || e.Status != http.StatusBadRequest {
			return out, err
		}
		c.log.Debug("graph: the service refused a derived $select; listing attachments without contentId",
			"code", e.Code)
		c.attachmentSelect.baseOnly.Store(true)
	}
	return c.listAttachments(ctx, item, attachmentSelectBase)
}

func (c *Client) listAttachments(ctx context.Context, item ItemRef, sel string) ([]Attachment, error) {
	var out []Attachment
	err := listPages(ctx, c, "list attachments", c.attachmentsURL(item, "", "$select="+sel), nil,
		func(v attachmentJSON) { out = append(out, v.attachment()) })
	return out, err
}

// ListAttachmentsWithContent lists an item's attachments with the content of its file
// attachments (no $select: Graph then sends every contentBytes, base64). One request instead
// of one $value per attachment: worth it when the attachments are small, as the caller judges
// from ListAttachments' sizes. The map holds the bytes by attachment id.
func (c *Client) ListAttachmentsWithContent(ctx context.Context, item ItemRef) ([]Attachment, map[string][]byte, error) {
	var out []Attachment
	content := map[string][]byte{}
	err := listPages(ctx, c, "list attachments with content", c.attachmentsURL(item, "", ""), nil,
		func(v struct {
			attachmentJSON
			ContentBytes []byte `json:"contentBytes"`
		}) {
			a := v.attachment()
			out = append(out, a)
			if a.Kind == FileAttachment && v.ContentBytes != nil {
				content[a.ID] = v.ContentBytes
			}
		})
	return out, content, err
}

// DownloadAttachment streams an attachment's raw content ($value): a file's
// bytes, an attached message as MIME, an event as iCalendar. The length is the
// answer's Content-Length, or -1. The body holds one of the mailbox's request
// slots until it is closed: close it promptly.
func (c *Client) DownloadAttachment(ctx context.Context, item ItemRef, id string) (io.ReadCloser, int64, error) {
	resp, err := c.do(ctx, &request{
		op: "download attachment", method: http.MethodGet, idempotent: true, stream: true,
		url: c.attachmentsURL(item, "/"+url.PathEscape(id)+"/$value", ""),
	})
	if err != nil {
		return nil, 0, err
	}
	return resp.stream, resp.length, nil
}

// DeleteAttachment deletes an attachment. A 404 after an attempt that may have
// gone through counts as done.
func (c *Client) DeleteAttachment(ctx context.Context, item ItemRef, id string) error {
	_, err := c.do(ctx, &request{
		op: "delete attachment", method: http.MethodDelete, idempotent: true, goneIsDone: true,
		url: c.attachmentsURL(item, "/"+url.PathEscape(id), ""),
	})
	return err
}

type newFileAttachmentJSON struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType,omitempty"`
	IsInline     bool   `json:"isInline"`
	ContentID    string `json:"contentId,omitempty"`
	ContentBytes []byte `json:"contentBytes"` // base64 by encoding/json
}

// AddSmallAttachment attaches data in one POST (Graph's way for files under
// 3 MiB; a.Size is not used, len(data) is the size).
//
// Request size policy: Graph limits a request body to about 4 MB, and the base64
// JSON of a file just under 3 MiB is about 4.19 MB - over it, while an upload
// session refuses anything under 3 MiB. So a JSON body larger than
// Config.RequestLimit (default 4 MB, 4,000,000 bytes) is sent gzip'ed with Content-Encoding: gzip,
// as Microsoft's own SDKs send every body; base64 of even incompressible data
// shrinks to about 3.2 MB that way. A service that counts the decompressed body
// against its limit answers 413 or 400 "Maximum request length exceeded": that
// comes back as an error for which IsTooLarge holds, since no other way to
// attach such a file exists.
//
// Retries: the POST creates an attachment, so it is sent again only when the
// service said it did not carry it out (429, 503) or the connection was never
// made. After an ambiguous failure (a cut connection, a timeout, 504) the
// attachment may exist: the error is returned (IsTransient holds) and the caller
// lists the item's attachments before trying again.
func (c *Client) AddSmallAttachment(ctx context.Context, item ItemRef, a NewAttachment, data []byte) (Attachment, error) {
	const op = "add attachment"
	if data == nil {
		data = []byte{} // "contentBytes": "" rather than null
	}
	body, err := json.Marshal(newFileAttachmentJSON{
		ODataType: "#microsoft.graph.fileAttachment", Name: a.Name, ContentType: a.ContentType,
		IsInline: a.IsInline, ContentID: a.ContentID, ContentBytes: data,
	})
	if err != nil {
		return Attachment{}, fmt.Errorf("graph: %s: %w", op, err)
	}
	r := &request{op: op, method: http.MethodPost, url: c.attachmentsURL(item, "", ""),
		body: body, contentType: "application/json"}
	if int64(len(body)) > c.reqLimit {
		if r.body, err = gzipBytes(body); err != nil {
			return Attachment{}, fmt.Errorf("graph: %s: %w", op, err)
		}
		r.gzipped = true
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return Attachment{}, err
	}
	var v attachmentJSON
	if err := decodeJSON(resp, op, &v); err != nil {
		return Attachment{}, err
	}
	if v.ID == "" {
		return Attachment{}, fmt.Errorf("graph: %s: answer without an id: %w", op, ErrUploadOutcomeUnknown)
	}
	att := v.attachment()
	if att.Kind == "" {
		att.Kind = FileAttachment
	}
	return att, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b) / 2)
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
