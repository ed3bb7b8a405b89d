package graphtest

import (
	"net/http"
	"strconv"
)

// messageProps are the message properties $select may name.
var messageProps = []string{
	"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
	"sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
	"parentFolderId", "conversationId", "isRead", "isDraft", "webLink", "body", "from", "sender",
	"toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
}

const draftsFolderID = "AAMkAGDraftsFolderAAAAAAEPAAA="

func messageJSON(it StoredItem) map[string]any {
	preview := it.Body
	if len(preview) > 255 {
		preview = preview[:255]
	}
	return map[string]any{
		"@odata.etag":          `W/"` + changeKey(it) + `"`,
		"id":                   it.ID,
		"createdDateTime":      graphTime(it.Created),
		"lastModifiedDateTime": graphTime(it.Modified),
		"changeKey":            changeKey(it),
		"categories":           []string{},
		"receivedDateTime":     graphTime(it.Created),
		"sentDateTime":         graphTime(it.Created),
		"hasAttachments":       it.HasAttachments,
		"internetMessageId":    "<" + it.ID[len(it.ID)-12:] + "@outlookfs.test>",
		"subject":              it.Subject,
		"bodyPreview":          preview,
		"importance":           "normal",
		"parentFolderId":       draftsFolderID,
		"conversationId":       "AAQkAG" + it.ID[len(it.ID)-16:],
		"isRead":               true,
		"isDraft":              true,
		"webLink":              "https://outlook.office365.com/owa/?ItemID=" + it.ID + "&exvsurl=1&viewmodel=ReadMessageItem",
		"body":                 map[string]any{"contentType": "text", "content": it.Body},
		"from":                 nil,
		"sender":               nil,
		"toRecipients":         []any{},
		"ccRecipients":         []any{},
		"bccRecipients":        []any{},
		"replyTo":              []any{},
		"flag":                 map[string]any{"flagStatus": "notFlagged"},
	}
}

func changeKey(it StoredItem) string {
	return "CQAAABYAAAA" + strconv.FormatInt(it.Modified.UnixNano(), 36)
}

// draftsFolder answers GET mailFolders/drafts.
func (e *Emulator) draftsFolder(c *call) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c, "GET")
		return
	}
	n := len(c.mb.list(kindMessage))
	writeJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context":   metadataURL(c) + "/mailFolders/$entity",
		"id":               draftsFolderID,
		"displayName":      "Drafts",
		"parentFolderId":   "AAMkAGRootFolderAAAAAAEIAAA=",
		"childFolderCount": 0,
		"unreadItemCount":  0,
		"totalItemCount":   n,
		"isHidden":         false,
	})
}

// messagesCollection answers GET (a page of drafts) and POST (a new draft)
// on messages and mailFolders/drafts/messages.
func (e *Emulator) messagesCollection(c *call) {
	switch c.r.Method {
	case http.MethodGet:
		itemPage(c, "microsoft.graph.message", messageProps, c.mb.Drafts(), messageJSON, "messages", false)
	case http.MethodPost:
		var in struct {
			Subject *string `json:"subject"`
			Body    *struct {
				Content string `json:"content"`
			} `json:"body"`
		}
		if !c.readJSON(&in) {
			return
		}
		subject := ""
		if in.Subject != nil {
			subject = *in.Subject
		}
		id := c.mb.AddDraft(subject)
		if in.Body != nil {
			c.mb.update(id, kindMessage, func(s *StoredItem) { s.Body = in.Body.Content })
		}
		it, _ := c.mb.item(id, kindMessage)
		out := messageJSON(it)
		out["@odata.context"] = metadataURL(c) + "/messages/$entity"
		writeJSON(c.w, http.StatusCreated, out)
	default:
		methodNotAllowed(c, "GET, POST")
	}
}

// getItem answers GET messages/{id} or events/{id}.
func (e *Emulator) getItem(c *call, kind, id string) {
	props, typ, render := itemType(c, kind)
	sel, ok := parseSelect(c, typ, props)
	if !ok {
		return
	}
	it, found := c.mb.item(id, kind)
	if !found {
		notFound(c)
		return
	}
	out := project(render(it), sel)
	out["@odata.context"] = metadataURL(c) + "/" + kind + "s/$entity"
	writeJSON(c.w, http.StatusOK, out)
}

// patchItem answers PATCH messages/{id} or events/{id}: subject (and body).
func (e *Emulator) patchItem(c *call, kind, id string) {
	var in struct {
		Subject *string `json:"subject"`
		Body    *struct {
			Content string `json:"content"`
		} `json:"body"`
	}
	if !c.readJSON(&in) {
		return
	}
	if kind == kindEvent {
		if it, ok := c.mb.item(id, kind); ok && !it.IsOrganizer {
			writeError(c.w, c.r, http.StatusForbidden, codeAccessDenied, msgAccessDenied)
			return
		}
	}
	it, ok := c.mb.update(id, kind, func(s *StoredItem) {
		if in.Subject != nil {
			s.Subject = *in.Subject
		}
		if in.Body != nil {
			s.Body = in.Body.Content
		}
	})
	if !ok {
		notFound(c)
		return
	}
	_, _, render := itemType(c, kind)
	out := render(it)
	out["@odata.context"] = metadataURL(c) + "/" + kind + "s/$entity"
	writeJSON(c.w, http.StatusOK, out)
}

// deleteItem answers DELETE messages/{id} or events/{id}: 204.
func (e *Emulator) deleteItem(c *call, kind, id string) {
	if !c.mb.deleteItem(id, kind) {
		notFound(c)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// itemType gives the $select properties, OData type and renderer of a kind.
func itemType(c *call, kind string) ([]string, string, func(StoredItem) map[string]any) {
	if kind == kindEvent {
		loc := preferredZone(c.r)
		return eventProps, "microsoft.graph.event", func(it StoredItem) map[string]any { return eventJSON(it, loc, c.mb.upn) }
	}
	return messageProps, "microsoft.graph.message", messageJSON
}

func notFound(c *call) {
	writeError(c.w, c.r, http.StatusNotFound, codeItemNotFound, msgNotFound)
}
