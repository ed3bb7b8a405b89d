package graph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxErrorMessage bounds the server's message kept in an *Error.
const maxErrorMessage = 1024

// errorEnvelope is Graph's error body:
// {"error": {"code": "...", "message": "...", "innerError": {"request-id": "..."}}}.
// encoding/json matches keys case-insensitively, so "innererror" is read too.
type errorEnvelope struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// apiError turns an error answer to r into an *Error. Whatever the body holds,
// it never adds the request's URL query to the text.
func (c *Client) apiError(r *request, resp *response) *Error {
	e := &Error{
		Op:     r.op,
		Method: r.method,
		Path:   redactURL(r.url, r.upload),
		Status: resp.status,
	}
	var env errorEnvelope
	if json.Unmarshal(resp.body, &env) == nil {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		e.RequestID = env.Error.InnerError.RequestID
	}
	if e.RequestID == "" {
		e.RequestID = resp.header.Get("request-id")
	}
	if e.RequestID == "" {
		e.RequestID = resp.header.Get("client-request-id")
	}
	if e.Message == "" && e.Code == "" && len(resp.body) > 0 && looksLikeText(resp.header.Get("Content-Type")) {
		e.Message = strings.TrimSpace(string(resp.body))
	}
	e.Message = scrub(truncate(e.Message, maxErrorMessage), r.url)
	e.Code = scrub(truncate(e.Code, 128), r.url)
	e.RequestID = truncate(e.RequestID, 128)
	if ra, ok := parseRetryAfter(resp.header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = ra
	}
	if resp.status == http.StatusInternalServerError && len(resp.body) == 0 && len(r.body) >= largeRequestBody {
		// Seen from Graph for a body over its request size limit: a 500 and nothing else.
		// Sending the same body again cannot help.
		e.Code = CodeRequestTooLarge
		e.Message = fmt.Sprintf("an empty answer to a %d-byte request body, taken as over Graph's request size limit", len(r.body))
	}
	return e
}

// largeRequestBody: a request body this large (bytes on the wire) that is answered by an
// empty 500 is taken as over Graph's request size limit (about 4 MB), not as a server fault.
const largeRequestBody = 3_000_000

func looksLikeText(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
