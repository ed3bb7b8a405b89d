package graphtest

import (
	"net/http"
	"net/url"
	"strings"
)

// handleGraph authenticates a Graph request, opens its mailbox and routes it.
func (e *Emulator) handleGraph(c *call) {
	segs, ok := splitPath(c.r.URL.EscapedPath())
	if !ok || len(segs) < 2 || segs[0] != "v1.0" {
		writeError(c.w, c.r, http.StatusNotFound, codeBadRequest, "Resource not found: only /v1.0 is served.")
		return
	}
	t := e.bearer(c.w, c.r)
	if t == nil {
		return
	}
	var me bool
	var upn string
	var rest []string
	switch {
	case strings.EqualFold(segs[1], "me"):
		me, rest = true, segs[2:]
	case strings.EqualFold(segs[1], "users") && len(segs) >= 3:
		upn, rest = segs[2], segs[3:]
	default:
		badSegment(c, segs[1])
		return
	}
	m := e.openMailbox(c.w, c.r, t, me, upn)
	if m == nil {
		return
	}
	c.tok = t
	if !c.enter(m) {
		return
	}
	e.route(c, rest)
}

// route dispatches a request below the mailbox prefix.
func (e *Emulator) route(c *call, segs []string) {
	is := func(i int, name string) bool { return len(segs) > i && strings.EqualFold(segs[i], name) }
	switch {
	case len(segs) == 0:
		badSegment(c, "")
	case is(0, "mailFolders") && len(segs) >= 2 && !isDraftsFolder(segs[1]):
		writeError(c.w, c.r, http.StatusNotFound, codeItemNotFound, "The specified folder could not be found in the store.")
	case is(0, "mailFolders") && len(segs) == 2:
		e.draftsFolder(c)
	case is(0, "mailFolders") && is(2, "messages") && len(segs) == 3:
		e.messagesCollection(c)
	case is(0, "mailFolders") && is(2, "messages") && is(3, "delta") && len(segs) == 4:
		e.draftsDelta(c)
	case is(0, "mailFolders") && is(2, "messages"):
		e.itemRoute(c, kindMessage, segs[3:])
	case is(0, "messages") && len(segs) == 1:
		e.messagesCollection(c)
	case is(0, "messages"):
		e.itemRoute(c, kindMessage, segs[1:])
	case is(0, "calendar") && is(1, "events") && len(segs) == 2, is(0, "events") && len(segs) == 1:
		e.eventsCollection(c)
	case is(0, "calendar") && is(1, "events"):
		e.itemRoute(c, kindEvent, segs[2:])
	case is(0, "events"):
		e.itemRoute(c, kindEvent, segs[1:])
	case is(0, "calendarView") && len(segs) == 1:
		e.calendarView(c)
	case is(0, "calendarView") && is(1, "delta") && len(segs) == 2:
		e.calendarViewDelta(c)
	default:
		badSegment(c, segs[0])
	}
}

// itemRoute dispatches {messages|events}/{id}/...
func (e *Emulator) itemRoute(c *call, kind string, segs []string) {
	id := segs[0]
	if !validID(id) {
		writeError(c.w, c.r, http.StatusBadRequest, codeIDMalformed, "Id is malformed.")
		return
	}
	is := func(i int, name string) bool { return len(segs) > i && strings.EqualFold(segs[i], name) }
	switch {
	case len(segs) == 1:
		switch c.r.Method {
		case http.MethodGet:
			e.getItem(c, kind, id)
		case http.MethodPatch:
			e.patchItem(c, kind, id)
		case http.MethodDelete:
			e.deleteItem(c, kind, id)
		default:
			methodNotAllowed(c, "GET, PATCH, DELETE")
		}
	case is(1, "attachments") && len(segs) == 2:
		switch c.r.Method {
		case http.MethodGet:
			e.listAttachments(c, kind, id)
		case http.MethodPost:
			e.postAttachment(c, kind, id)
		default:
			methodNotAllowed(c, "GET, POST")
		}
	case is(1, "attachments") && is(2, "createUploadSession") && len(segs) == 3:
		if c.r.Method != http.MethodPost {
			methodNotAllowed(c, "POST")
			return
		}
		e.createUploadSession(c, kind, id)
	case is(1, "attachments") && len(segs) == 3:
		aid := segs[2]
		if !validID(aid) {
			writeError(c.w, c.r, http.StatusBadRequest, codeIDMalformed, "Id is malformed.")
			return
		}
		switch c.r.Method {
		case http.MethodGet:
			e.getAttachment(c, kind, id, aid)
		case http.MethodDelete:
			e.deleteAttachment(c, kind, id, aid)
		default:
			// There is no update: attachments cannot be renamed or rewritten.
			methodNotAllowed(c, "GET, DELETE")
		}
	case is(1, "attachments") && is(3, "$value") && len(segs) == 4:
		if c.r.Method != http.MethodGet {
			methodNotAllowed(c, "GET")
			return
		}
		e.attachmentValue(c, kind, id, segs[2])
	default:
		badSegment(c, segs[len(segs)-1])
	}
}

func isDraftsFolder(name string) bool { return strings.EqualFold(name, "drafts") }

func badSegment(c *call, seg string) {
	writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "Resource not found for the segment '"+seg+"'.")
}

func methodNotAllowed(c *call, allow string) {
	c.w.Header().Set("Allow", allow)
	writeError(c.w, c.r, http.StatusMethodNotAllowed, codeInvalidRequest, "The OData request is not supported.")
}

// splitPath splits an escaped URL path into unescaped segments.
func splitPath(escaped string) ([]string, bool) {
	raw := strings.Split(strings.Trim(escaped, "/"), "/")
	segs := make([]string, 0, len(raw))
	for _, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs = append(segs, u)
	}
	return segs, true
}

// baseURL is the scheme and host the client used to reach us.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
