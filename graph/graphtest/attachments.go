package graphtest

import (
	"encoding/base64"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// attachmentProps are the attachment properties $select may name (the
// fileAttachment ones may also be qualified, as in
// microsoft.graph.fileAttachment/contentId).
var attachmentProps = []string{
	"id", "lastModifiedDateTime", "name", "contentType", "size", "isInline",
	"contentId", "contentLocation", "contentBytes",
}

var odataTypes = map[string]string{
	attFile:      "#microsoft.graph.fileAttachment",
	attItem:      "#microsoft.graph.itemAttachment",
	attReference: "#microsoft.graph.referenceAttachment",
}

// attachmentJSON renders an attachment; contentBytes only when selected.
func attachmentJSON(a StoredAttachment, sel selection) map[string]any {
	out := map[string]any{
		"@odata.type":          odataTypes[a.Kind],
		"id":                   a.ID,
		"lastModifiedDateTime": graphTime(a.Modified),
		"name":                 a.Name,
		"contentType":          nullable(a.ContentType),
		"size":                 a.Size,
		"isInline":             a.IsInline,
	}
	if a.Kind == attFile {
		out["@odata.mediaContentType"] = a.ContentType
		out["contentId"] = nullable(a.ContentID)
		out["contentLocation"] = nil
		if sel.has("contentBytes") {
			out["contentBytes"] = base64.StdEncoding.EncodeToString(a.Data)
		}
	}
	return project(out, sel)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// derivedAttachmentProps are fileAttachment's own properties: $select names them with a cast
// (microsoft.graph.fileAttachment/contentId); without one Graph looks for them on the base type
// and answers 400 RequestBroker--ParseUri.
var derivedAttachmentProps = []string{"contentId", "contentLocation", "contentBytes"}

// attachmentSelect parses $select on attachments, accepting qualified names and refusing a
// derived property named without its cast.
func attachmentSelect(c *call) (selection, bool) {
	q := c.r.URL.Query()
	for k, v := range q {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "select") {
			parts := strings.Split(v[0], ",")
			for i, p := range parts {
				p = strings.TrimSpace(p)
				if _, after, ok := strings.Cut(p, "/"); ok {
					parts[i] = after
					continue
				}
				for _, d := range derivedAttachmentProps {
					if strings.EqualFold(p, d) {
						writeError(c.w, c.r, http.StatusBadRequest, "RequestBroker--ParseUri",
							"Could not find a property named '"+p+"' on type 'microsoft.graph.attachment'.")
						return nil, false
					}
				}
			}
			q[k] = []string{strings.Join(parts, ",")}
		}
	}
	c.r.URL.RawQuery = q.Encode()
	return parseSelect(c, "microsoft.graph.attachment", attachmentProps)
}

// listAttachments answers GET .../attachments. Without $select every file's
// contentBytes comes along; $filter is ignored.
func (e *Emulator) listAttachments(c *call, kind, id string) {
	sel, ok := attachmentSelect(c)
	if !ok {
		return
	}
	if _, found := c.mb.item(id, kind); !found {
		notFound(c)
		return
	}
	atts := c.mb.Attachments(id)
	value := make([]map[string]any, 0, len(atts))
	for _, a := range atts {
		value = append(value, attachmentJSON(a, sel))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context": metadataURL(c) + "/" + kind + "s('" + id + "')/attachments",
		"value":          value,
	})
}

// getAttachment answers GET .../attachments/{aid}.
func (e *Emulator) getAttachment(c *call, kind, id, aid string) {
	sel, ok := attachmentSelect(c)
	if !ok {
		return
	}
	a, err := c.mb.attachment(id, kind, aid)
	if err != nil {
		notFound(c)
		return
	}
	out := attachmentJSON(a, sel)
	out["@odata.context"] = metadataURL(c) + "/" + kind + "s('" + id + "')/attachments/$entity"
	writeJSON(c.w, http.StatusOK, out)
}

// attachmentValue answers GET .../attachments/{aid}/$value: the file's
// bytes, an attached item's MIME/iCalendar/vCard rendering, or 405 for a
// reference attachment.
func (e *Emulator) attachmentValue(c *call, kind, id, aid string) {
	if !validID(aid) {
		writeError(c.w, c.r, http.StatusBadRequest, codeIDMalformed, "Id is malformed.")
		return
	}
	a, err := c.mb.attachment(id, kind, aid)
	if err != nil {
		notFound(c)
		return
	}
	ct := a.ContentType
	switch a.Kind {
	case attReference:
		writeError(c.w, c.r, http.StatusMethodNotAllowed, codeInvalidRequest,
			"The $value of a reference attachment is not supported.")
		return
	case attItem:
		ct = itemContentType(a.ItemKind)
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := c.w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(a.Data)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(a.Data)
}

// itemWritable answers 403 when the mailbox's user may not change the
// attachments of an event it does not organize.
func itemWritable(c *call, kind, id string) bool {
	it, found := c.mb.item(id, kind)
	if !found {
		notFound(c)
		return false
	}
	if kind == kindEvent && !it.IsOrganizer {
		writeError(c.w, c.r, http.StatusForbidden, codeAccessDenied, msgAccessDenied)
		return false
	}
	return true
}

// postAttachment answers POST .../attachments: a file (base64
// contentBytes), an item or a reference; 201 with the attachment.
func (e *Emulator) postAttachment(c *call, kind, id string) {
	var in struct {
		Type         string  `json:"@odata.type"`
		Name         *string `json:"name"`
		ContentType  string  `json:"contentType"`
		ContentBytes *string `json:"contentBytes"`
		IsInline     bool    `json:"isInline"`
		ContentID    string  `json:"contentId"`
		SourceURL    string  `json:"sourceUrl"`
		Item         *struct {
			Type        string `json:"@odata.type"`
			Subject     string `json:"subject"`
			DisplayName string `json:"displayName"`
		} `json:"item"`
	}
	if !c.readJSON(&in) {
		return
	}
	if !itemWritable(c, kind, id) {
		return
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	var a *StoredAttachment
	switch strings.ToLower(strings.TrimPrefix(in.Type, "#")) {
	case "microsoft.graph.fileattachment":
		if in.ContentBytes == nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The property 'contentBytes' is required.")
			return
		}
		data, err := base64.StdEncoding.DecodeString(*in.ContentBytes)
		if err != nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "The property 'contentBytes' is not valid base64.")
			return
		}
		if len(data) >= minUploadSize {
			// "To attach a file that's smaller than 3 MB, do a POST" (3 MB being 3 MiB, as in the
			// upload session's own minimum): a larger one is refused as a body over the request
			// limit, which its base64 is on Graph.
			c.tooLarge()
			return
		}
		ct := in.ContentType
		if ct == "" {
			ct = contentTypeOf(name) // Graph fills it in from the name
		}
		a = &StoredAttachment{Kind: attFile, Name: name, ContentType: ct, Data: data,
			IsInline: in.IsInline, ContentID: in.ContentID}
	case "microsoft.graph.itemattachment":
		if in.Item == nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The property 'item' is required.")
			return
		}
		itemKind := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(in.Item.Type, "#"), "microsoft.graph."))
		subject := in.Item.Subject
		if itemKind == kindContact {
			subject = in.Item.DisplayName
		}
		var err error
		a, err = e.newItemAttachment(name, itemKind, subject)
		if err != nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, err.Error())
			return
		}
	case "microsoft.graph.referenceattachment":
		a = &StoredAttachment{Kind: attReference, Name: name, URL: in.SourceURL}
	default:
		writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest,
			"A type named 'microsoft.graph.attachment' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.")
		return
	}
	if c.mb.attachmentBytes(id)+e.heldBytes(c.mb, id, nil)+e.counted(int64(len(a.Data))) > c.mb.messageSizeLimit() {
		e.sizeExceeded(c)
		return
	}
	if err := c.mb.attach(id, kind, a); err != nil {
		notFound(c)
		return
	}
	out := attachmentJSON(*a, nil)
	out["@odata.context"] = metadataURL(c) + "/" + kind + "s('" + id + "')/attachments/$entity"
	writeJSON(c.w, http.StatusCreated, out)
}

// deleteAttachment answers DELETE .../attachments/{aid}: 204.
func (e *Emulator) deleteAttachment(c *call, kind, id, aid string) {
	if !itemWritable(c, kind, id) {
		return
	}
	if err := c.mb.deleteAttachment(id, kind, aid); err != nil {
		notFound(c)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// sizeExceeded answers ErrorMessageSizeExceeded.
func (e *Emulator) sizeExceeded(c *call) {
	writeError(c.w, c.r, e.opts.MessageSizeExceededStatus, codeSizeExceeded,
		"The message exceeds the maximum supported size.")
}

// contentTypeOf is the content type Graph gives a file attachment posted without one: the
// name's extension's type, else application/octet-stream.
func contentTypeOf(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
