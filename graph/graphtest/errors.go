package graphtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Graph error codes and messages the emulator answers with
// (graph-protocol.md 4; upload-host codes mirror OneDrive's).
const (
	codeInvalidToken    = "InvalidAuthenticationToken"
	codeInvalidAudience = "InvalidAudienceForResource"
	codeItemNotFound    = "ErrorItemNotFound"
	codeIDMalformed     = "ErrorInvalidIdMalformed"
	codeAccessDenied    = "ErrorAccessDenied"
	codeInvalidUser     = "ErrorInvalidUser"
	codeBadRequest      = "BadRequest"
	codeInvalidRequest  = "ErrorInvalidRequest"
	codeInvalidParam    = "ErrorInvalidParameter"
	codeTooSmall        = "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
	codeSizeExceeded    = "ErrorMessageSizeExceeded"
	codeTooLarge        = "RequestEntityTooLarge"
	codeThrottled       = "ApplicationThrottled"
	codeUnsupportedType = "UnsupportedMediaType"
	codeSyncNotFound    = "SyncStateNotFound"

	codeUploadInvalidRange   = "invalidRange"
	codeUploadInvalidRequest = "invalidRequest"
	codeUploadNotFound       = "itemNotFound"
	codeUploadTooLarge       = "requestTooLarge"

	msgMaxRequestLength = "Maximum request length exceeded."
	msgConcurrency      = "Application is over its MailboxConcurrency limit."
	msgVolume           = "Application is over its MailboxUploadVolume limit."
	msgRate             = "Application is over its MailboxRequests limit."
	msgNotFound         = "The specified object was not found in the store."
	msgAccessDenied     = "Access is denied. Check credentials and try again."
)

// graphTime formats a time the way Graph does: UTC, seven fractional digits.
func graphTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

// writeError answers with Graph's error envelope.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	body := map[string]any{
		"error": map[string]any{
			"code":    code,
			"message": msg,
			"innerError": map[string]any{
				"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
				"request-id":        w.Header().Get("request-id"),
				"client-request-id": w.Header().Get("client-request-id"),
			},
		},
	}
	writeJSON(w, status, body)
}

// writeJSON answers with v as JSON and an exact Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "emulator: cannot encode response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	if g, ok := w.(interface{ acceptsGzip() bool }); ok && g.acceptsGzip() && len(b) >= gzipMinBody {
		// Graph compresses its JSON answers for a client that accepts gzip.
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		b = buf.Bytes()
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// gzipMinBody: shorter JSON answers go as they are.
const gzipMinBody = 1024
