package graphtest

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// uploadSession is an attachment upload session (graph-protocol.md 1).
type uploadSession struct {
	id, secret string
	mb         *Mailbox
	itemID     string
	itemKind   string
	att        StoredAttachment // name, content type, inline, content id
	size       int64
	expires    time.Time
	epoch      uint64 // ExpireSessions epoch at creation

	mu    sync.Mutex // serialises the session's requests
	state sessionState
	data  []byte // allocated once, with the declared size, at the first PUT
	next  int64
	// held is next while the session is open and 0 once it completed or was cancelled: the
	// bytes it holds for its item, read by other sessions without taking mu.
	held atomic.Int64
}

type sessionState int

const (
	sessionOpen sessionState = iota
	sessionCancelled
	sessionComplete
)

// createUploadSession answers POST .../attachments/createUploadSession.
func (e *Emulator) createUploadSession(c *call, kind, id string) {
	var body map[string]json.RawMessage
	if !c.readJSON(&body) {
		return
	}
	var raw json.RawMessage
	for k, v := range body {
		if strings.EqualFold(k, "AttachmentItem") {
			raw = v
		}
	}
	var in struct {
		AttachmentType *string `json:"attachmentType"`
		Name           *string `json:"name"`
		Size           *int64  `json:"size"`
		ContentType    string  `json:"contentType"`
		IsInline       bool    `json:"isInline"`
		ContentID      string  `json:"contentId"`
	}
	if raw == nil || json.Unmarshal(raw, &in) != nil {
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The request needs an 'AttachmentItem'.")
		return
	}
	switch {
	case in.AttachmentType == nil:
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The property 'attachmentType' is required.")
		return
	case in.Name == nil:
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The property 'name' is required.")
		return
	case in.Size == nil:
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "The property 'size' is required.")
		return
	case !strings.EqualFold(*in.AttachmentType, "file"):
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidRequest, "Upload sessions take file attachments only.")
		return
	}
	if !itemWritable(c, kind, id) {
		return
	}
	if delegatedOnShared(c.tok, c.mb) && !e.opts.AllowSharedUploadSessions {
		writeError(c.w, c.r, http.StatusForbidden, codeAccessDenied, msgAccessDenied)
		return
	}
	size := *in.Size
	if size < minUploadSize {
		writeError(c.w, c.r, e.opts.TooSmallStatus, codeTooSmall,
			"Attachment size should not be less than minimum size of 3 MB.")
		return
	}
	if size > maxUploadSize {
		e.sizeExceeded(c)
		return
	}
	if e.opts.UploadBaseURL == "" {
		writeError(c.w, c.r, http.StatusInternalServerError, "InternalServerError",
			"graphtest: no upload host configured (Options.UploadBaseURL)")
		return
	}
	s := &uploadSession{
		id: randomString(24), secret: randomString(48), mb: c.mb, itemID: id, itemKind: kind,
		att: StoredAttachment{Kind: attFile, Name: *in.Name, ContentType: in.ContentType,
			IsInline: in.IsInline, ContentID: in.ContentID},
		size: size, expires: e.now().Add(e.opts.SessionLifetime), epoch: e.expireEpoch.Load(),
	}
	e.mu.Lock()
	e.sessions[s.id] = s
	e.mu.Unlock()
	writeJSON(c.w, http.StatusCreated, map[string]any{
		"@odata.context":     baseURL(c.r) + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          e.itemURL(s) + "/AttachmentSessions('" + s.id + "')?authtoken=" + s.secret,
		"expirationDateTime": graphTime(s.expires),
		"nextExpectedRanges": []string{"0-"},
	})
}

// itemURL is the upload host's URL of the session's item.
func (e *Emulator) itemURL(s *uploadSession) string {
	coll := "Messages"
	if s.itemKind == kindEvent {
		coll = "Events"
	}
	return e.opts.UploadBaseURL + "/api/v2.0/Users('" + s.mb.upn + "')/" + coll + "('" + s.itemID + "')"
}

var sessionPathRE = regexp.MustCompile(`^/api/v2\.0/Users\('([^'/]*)'\)/(Messages|Events)\('([^'/]*)'\)/AttachmentSessions\('([^'/]*)'\)$`)

// handleUpload serves the upload host: PUT a range, GET the status, DELETE to
// cancel. Only the authtoken in the URL authorises; an Authorization header
// is refused.
func (e *Emulator) handleUpload(c *call) {
	if c.r.Header.Get("Authorization") != "" {
		writeError(c.w, c.r, http.StatusUnauthorized, codeInvalidAudience,
			"The audience claim value is invalid for the upload URL: do not send an Authorization header.")
		return
	}
	m := sessionPathRE.FindStringSubmatch(c.r.URL.Path)
	if m == nil {
		uploadNotFound(c)
		return
	}
	e.mu.Lock()
	s := e.sessions[m[4]]
	e.mu.Unlock()
	if s == nil || !strings.EqualFold(m[1], s.mb.upn) || m[3] != s.itemID {
		uploadNotFound(c)
		return
	}
	tok := c.r.URL.Query().Get("authtoken")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.secret)) != 1 {
		writeError(c.w, c.r, http.StatusUnauthorized, codeInvalidToken, "The authtoken of the upload URL is not valid.")
		return
	}
	if !c.enter(s.mb) {
		return
	}
	switch c.r.Method {
	case http.MethodPut:
		e.putRange(c, s)
	case http.MethodGet:
		switch e.opts.StatusGET {
		case http.StatusNotFound:
			uploadNotFound(c)
			return
		case http.StatusMethodNotAllowed:
			c.w.Header().Set("Allow", "PUT, DELETE")
			writeError(c.w, c.r, http.StatusMethodNotAllowed, codeUploadInvalidRequest, "The HTTP method 'GET' is not supported.")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !e.sessionLive(s) {
			e.sessionGone(c, s)
			return
		}
		writeJSON(c.w, http.StatusOK, e.sessionBody(s))
	case http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !e.sessionLive(s) {
			e.sessionGone(c, s)
			return
		}
		s.state, s.data = sessionCancelled, nil
		s.held.Store(0)
		c.w.WriteHeader(http.StatusNoContent)
	default:
		c.w.Header().Set("Allow", "PUT, GET, DELETE")
		writeError(c.w, c.r, http.StatusMethodNotAllowed, codeUploadInvalidRequest, "Method not allowed.")
	}
}

// sessionLive reports whether s still takes requests; s.mu must be held.
func (e *Emulator) sessionLive(s *uploadSession) bool {
	return s.state == sessionOpen && e.now().Before(s.expires) && s.epoch >= e.expireEpoch.Load()
}

// sessionGone answers a request to a session that no longer takes requests: an
// expired one per Options.ExpiredSessionStatus, a cancelled or completed one 404.
func (e *Emulator) sessionGone(c *call, s *uploadSession) {
	expired := s.state == sessionOpen
	if expired && e.opts.ExpiredSessionStatus == http.StatusUnauthorized {
		writeError(c.w, c.r, http.StatusUnauthorized, codeInvalidToken, "The authtoken of the upload URL has expired.")
		return
	}
	uploadNotFound(c)
}

// sessionBody is the 200 answer of a PUT or a status GET: the next expected
// offset bare, as Outlook sends it, keys spelled per Options.KeySpelling.
func (e *Emulator) sessionBody(s *uploadSession) map[string]any {
	exp, ranges := "expirationDateTime", "nextExpectedRanges"
	if e.opts.KeySpelling == PascalCase {
		exp, ranges = "ExpirationDateTime", "NextExpectedRanges"
	}
	coll := "Messages"
	if s.itemKind == kindEvent {
		coll = "Events"
	}
	return map[string]any{
		"@odata.context": e.opts.UploadBaseURL + "/api/v2.0/$metadata#Users('" + s.mb.upn + "')/" + coll +
			"('" + s.itemID + "')/AttachmentSessions/$entity",
		exp:    graphTime(s.expires),
		ranges: []string{strconv.FormatInt(s.next, 10)},
	}
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// putRange answers PUT {uploadUrl}: one range, in order, at most 4 MiB.
func (e *Emulator) putRange(c *call, s *uploadSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !e.sessionLive(s) {
		e.sessionGone(c, s)
		return
	}
	m := contentRangeRE.FindStringSubmatch(strings.TrimSpace(c.r.Header.Get("Content-Range")))
	if m == nil {
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "The Content-Range header is missing or malformed.")
		return
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	total, err3 := strconv.ParseInt(m[3], 10, 64)
	switch {
	case err1 != nil || err2 != nil || err3 != nil || last < first:
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "The Content-Range header is malformed.")
		return
	case total != s.size:
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "The Content-Range total does not match the declared size.")
		return
	case last >= total:
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "The Content-Range ends past the declared size.")
		return
	case last-first+1 > maxRangeSize:
		uploadError(c, http.StatusRequestEntityTooLarge, codeUploadTooLarge, "A range may carry at most 4 MiB.")
		return
	case c.r.ContentLength != last-first+1:
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "Content-Length does not match the Content-Range.")
		return
	case first != s.next:
		uploadError(c, http.StatusRequestedRangeNotSatisfiable, codeUploadInvalidRange,
			"The uploaded fragment does not start at the next expected offset.")
		return
	}
	if s.mb.attachmentBytes(s.itemID)+e.heldBytes(s.mb, s.itemID, s)+e.counted(last+1) > s.mb.messageSizeLimit() {
		e.sizeExceeded(c)
		return
	}
	if s.data == nil {
		s.data = make([]byte, s.size)
	}
	if _, err := io.ReadFull(c.r.Body, s.data[first:last+1]); err != nil {
		uploadError(c, http.StatusBadRequest, codeUploadInvalidRequest, "The request body is shorter than its Content-Length.")
		return
	}
	s.next = last + 1
	s.held.Store(s.next)
	if s.next < s.size {
		writeJSON(c.w, http.StatusOK, e.sessionBody(s))
		return
	}
	a := s.att
	a.Data = s.data
	s.held.Store(0) // counted as an attachment from here on
	if err := s.mb.attach(s.itemID, s.itemKind, &a); err != nil {
		s.state, s.data = sessionCancelled, nil
		uploadNotFound(c)
		return
	}
	s.state, s.data = sessionComplete, nil
	if e.opts.FinalPUTJSON {
		writeJSON(c.w, http.StatusOK, attachmentJSON(a, nil))
		return
	}
	coll := "Messages"
	if s.itemKind == kindEvent {
		coll = "Events"
	}
	h := c.w.Header()
	h.Set("Location", e.opts.UploadBaseURL+"/api/v2.0/Users('"+s.mb.upn+"')/"+coll+"('"+s.itemID+"')/Attachments('"+a.ID+"')")
	h.Set("Content-Length", "0")
	h.Del("Content-Type")
	c.w.WriteHeader(http.StatusCreated)
}

func uploadError(c *call, status int, code, msg string) {
	writeError(c.w, c.r, status, code, msg)
}

func uploadNotFound(c *call) {
	uploadError(c, http.StatusNotFound, codeUploadNotFound, "The upload session was not found (expired, cancelled or completed).")
}

// heldBytes is what the item's other live upload sessions hold: the message size limit counts
// it too, so that two sessions running together cannot both land past the limit.
func (e *Emulator) heldBytes(m *Mailbox, itemID string, except *uploadSession) int64 {
	now, epoch := e.now(), e.expireEpoch.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, o := range e.sessions {
		if o != except && o.mb == m && o.itemID == itemID && now.Before(o.expires) && o.epoch >= epoch {
			n += e.counted(o.held.Load())
		}
	}
	return n
}
