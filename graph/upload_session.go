package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// sessionJSON is both the createUploadSession answer and the upload host's 200
// body. encoding/json matches keys case-insensitively, so the PascalCase
// spelling ("NextExpectedRanges", "ExpirationDateTime") is read as well.
type sessionJSON struct {
	UploadURL          string    `json:"uploadUrl"`
	ExpirationDateTime graphTime `json:"expirationDateTime"`
	NextExpectedRanges []string  `json:"nextExpectedRanges"`
}

type createSessionJSON struct {
	AttachmentItem struct {
		AttachmentType string `json:"attachmentType"`
		Name           string `json:"name"`
		Size           int64  `json:"size"`
		ContentType    string `json:"contentType,omitempty"`
		IsInline       bool   `json:"isInline"`
		ContentID      string `json:"contentId,omitempty"`
	} `json:"AttachmentItem"`
}

// CreateUploadSession opens an upload session for an attachment of a.Size bytes
// (3 MiB up to 150 MB; over MaxAttachmentSize it returns ErrTooLarge without a
// request). The session's URL is a credential: persist it privately, never log it.
//
// Unlike the other POSTs, this one is retried after ambiguous failures: a session
// nobody uses attaches nothing and expires by itself.
func (c *Client) CreateUploadSession(ctx context.Context, item ItemRef, a NewAttachment) (UploadSession, error) {
	const op = "create upload session"
	if a.Size > MaxAttachmentSize {
		return UploadSession{}, fmt.Errorf("graph: %s: %d bytes: %w", op, a.Size, ErrTooLarge)
	}
	if a.Size < 0 {
		return UploadSession{}, fmt.Errorf("graph: %s: negative size %d", op, a.Size)
	}
	var body createSessionJSON
	body.AttachmentItem.AttachmentType = "file"
	body.AttachmentItem.Name = a.Name
	body.AttachmentItem.Size = a.Size
	body.AttachmentItem.ContentType = a.ContentType
	body.AttachmentItem.IsInline = a.IsInline
	body.AttachmentItem.ContentID = a.ContentID
	b, err := json.Marshal(body)
	if err != nil {
		return UploadSession{}, fmt.Errorf("graph: %s: %w", op, err)
	}
	resp, err := c.do(ctx, &request{
		op: op, method: http.MethodPost, idempotent: true,
		url:  c.attachmentsURL(item, "/createUploadSession", ""),
		body: b, contentType: "application/json",
	})
	if err != nil {
		return UploadSession{}, err
	}
	var v sessionJSON
	if err := decodeJSON(resp, op, &v); err != nil {
		return UploadSession{}, err
	}
	if err := c.checkUploadURL(v.UploadURL); err != nil {
		return UploadSession{}, fmt.Errorf("graph: %s: %w", op, err)
	}
	s := UploadSession{URL: v.UploadURL, Expires: v.ExpirationDateTime.Time}
	if next, ok := parseNextExpectedRanges(v.NextExpectedRanges); ok {
		s.Next = next
	}
	return s, nil
}

// checkUploadURL accepts an absolute http(s) URL; https only when Graph itself
// is reached over https, so attachment bytes never travel in clear by surprise.
// The URL itself stays out of the error.
func (c *Client) checkUploadURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("the upload URL is not an absolute URL")
	}
	if u.Scheme != "https" && (u.Scheme != "http" || c.base.Scheme == "https") {
		return fmt.Errorf("the upload URL's scheme %q is not allowed", u.Scheme)
	}
	return nil
}

// PutRange sends data as the range [off, off+len(data)) of a total-byte upload:
// one PUT of at most MaxRangeSize, without Authorization (the URL carries its
// own token). The result says where the session stands: Next is the next offset
// it expects - normally off+len(data), but the caller always continues from Next
// - or Done with the new attachment's id after the final range.
//
// Failures that may or may not have been applied (a cut connection, a 5xx, an
// "invalid range") are resolved by asking the session where it stands
// (UploadStatus): a range it already has is not sent again. That GET is only
// advice (Outlook does not document it): when it fails or says the session is
// gone, the range is sent again and the PUT's own answer decides - a 416 to a
// range sent again after an ambiguous failure means the earlier try landed, a
// 404 that the session is gone. If the session is gone after the final range may
// have been applied, the error wraps ErrUploadOutcomeUnknown; a session gone, or
// one whose position cannot be learned, otherwise wraps ErrUploadSessionGone
// (start a new session).
func (c *Client) PutRange(ctx context.Context, s UploadSession, off int64, data []byte, total int64) (PutResult, error) {
	const op = "upload range"
	n := int64(len(data))
	if n == 0 || n > MaxRangeSize || off < 0 || off+n > total {
		return PutResult{}, fmt.Errorf("graph: %s: bad range %d+%d of %d", op, off, n, total)
	}
	final := off+n == total
	r := &request{
		op: op, method: http.MethodPut, url: s.URL, upload: true,
		body: data, contentType: "application/octet-stream",
		header: map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, total)},
	}
	rt := c.newRetrier()
	ambiguous := false // an attempt since the last status check may have been applied
	for {
		rt.attempt()
		resp, err := c.send(ctx, r, "", rt.attempts)
		var failure error
		var retryAfter time.Duration
		hasRetryAfter := false
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return PutResult{}, err
			}
			ambiguous = true
			failure = err
		case resp.status == http.StatusOK || resp.status == http.StatusCreated:
			return c.putAnswer(resp, s, off+n, final)
		case resp.status == http.StatusRequestedRangeNotSatisfiable:
			// The session expects another offset (an earlier attempt of ours
			// may have landed): go on from where it stands.
			apiErr := c.apiError(r, resp)
			st, err := c.UploadStatus(ctx, s)
			switch {
			case err == nil && st.Next == off:
				return PutResult{}, apiErr
			case err == nil:
				return st, nil
			case ctx.Err() != nil || IsTransient(err):
				return PutResult{}, c.lostFinal(err, final && ambiguous)
			}
			// The status GET is no help: the 416 alone must tell.
			if next, ok := nextFromBody(resp.body); ok && next != off {
				return PutResult{Next: next, Expires: s.Expires}, nil
			}
			if ambiguous && !final {
				// Ranges go in order and are stored whole: refusing the range sent again
				// means the earlier try of it landed.
				return PutResult{Next: off + n, Expires: s.Expires}, nil
			}
			return PutResult{}, fmt.Errorf("%w: where it stands is unknown (%w; status: %w)", ErrUploadSessionGone, apiErr, err)
		case resp.status == http.StatusNotFound || resp.status == http.StatusUnauthorized:
			// 401: the URL's own authtoken has expired (no Authorization is sent here, so
			// it is never about the user's sign-in): the session is as gone as after a 404.
			return PutResult{}, c.lostFinal(fmt.Errorf("%w: %w", ErrUploadSessionGone, c.apiError(r, resp)), final && ambiguous)
		case resp.status == http.StatusTooManyRequests || resp.status >= 500:
			apiErr := c.apiError(r, resp)
			if IsQuotaExceeded(apiErr) {
				return PutResult{}, apiErr // a full mailbox: retrying cannot help
			}
			failure = apiErr
			retryAfter, hasRetryAfter = apiErr.RetryAfter, resp.header.Get("Retry-After") != ""
			if resp.status != http.StatusTooManyRequests {
				ambiguous = true // a server error may come after the range was stored
			}
		default:
			return PutResult{}, c.apiError(r, resp)
		}
		werr := rt.wait(ctx, retryAfter, hasRetryAfter)
		if werr != nil && (!ambiguous || ctx.Err() != nil) {
			return PutResult{}, giveUp(failure, werr)
		}
		if ambiguous {
			// Also when out of attempts: the caller must learn whether the
			// range (above all the final one) landed, not just that it failed.
			st, err := c.UploadStatus(ctx, s)
			switch {
			case err == nil && st.Next != off:
				return st, nil
			case err == nil:
				if werr != nil {
					return PutResult{}, giveUp(failure, werr)
				}
				ambiguous = false // the range did not land: send it again
			case ctx.Err() != nil || IsTransient(err):
				return PutResult{}, c.lostFinal(err, final)
			case werr != nil:
				// Out of attempts and the session will not say whether the range landed.
				if final {
					return PutResult{}, fmt.Errorf("%w (%w)", ErrUploadOutcomeUnknown, giveUp(failure, werr))
				}
				return PutResult{}, giveUp(failure, werr)
			default:
				// The status GET is no help (unknown, or a 404 that only the PUT can
				// confirm): send the range again; its answer tells where the session
				// stands. ambiguous stays set: a 416 now means the earlier try landed.
				c.log.Debug("graph: the upload host did not say where the session stands; sending the range again",
					"offset", off, "error", err.Error())
			}
		}
	}
}

// nextFromBody reads nextExpectedRanges from an upload host's answer, if it has one
// (OneDrive's 416 carries it; Outlook's is not documented).
func nextFromBody(body []byte) (int64, bool) {
	var v sessionJSON
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		var wrapped struct {
			Error sessionJSON `json:"error"`
		}
		if json.Unmarshal(body, &wrapped) != nil {
			return 0, false
		}
		v = wrapped.Error
	}
	return parseNextExpectedRanges(v.NextExpectedRanges)
}

// lostFinal turns "the session is gone" into ErrUploadOutcomeUnknown when the
// final range may have been applied (a completed session no longer exists).
func (c *Client) lostFinal(err error, finalMayHaveLanded bool) error {
	if finalMayHaveLanded && errors.Is(err, ErrUploadSessionGone) {
		return fmt.Errorf("%w (%w)", ErrUploadOutcomeUnknown, err)
	}
	return err
}

// putAnswer reads a 200 (progress) or 201 (done) answer of the upload host.
func (c *Client) putAnswer(resp *response, s UploadSession, sent int64, final bool) (PutResult, error) {
	if loc := resp.header.Get("Location"); resp.status == http.StatusCreated || loc != "" {
		if id, ok := parseAttachmentLocation(loc); ok {
			return PutResult{Done: true, AttachmentID: id, Next: sent}, nil
		}
		if resp.status == http.StatusCreated {
			return PutResult{Done: true, Next: sent}, fmt.Errorf(
				"graph: upload range: 201 without a readable Location: %w", ErrUploadOutcomeUnknown)
		}
	}
	if final && resp.status == http.StatusOK {
		// Some hosts answer the final range 200 with the new attachment's JSON and no
		// Location (Microsoft's JS SDK reads it so).
		var a attachmentJSON
		if json.Unmarshal(resp.body, &a) == nil && a.ID != "" {
			return PutResult{Done: true, AttachmentID: a.ID, Next: sent}, nil
		}
	}
	res := PutResult{Next: sent, Expires: s.Expires}
	var v sessionJSON
	if len(resp.body) > 0 && json.Unmarshal(resp.body, &v) == nil {
		if next, ok := parseNextExpectedRanges(v.NextExpectedRanges); ok {
			res.Next = next
		}
		if !v.ExpirationDateTime.IsZero() {
			res.Expires = v.ExpirationDateTime.Time
		}
	}
	return res, nil
}

// UploadStatus asks the upload session where it stands (GET on its URL). Outlook
// does not document this GET (OneDrive does), so its answer is advice, never the
// last word:
//   - a 404 or 401 gives an error wrapping ErrUploadSessionGone (and the *Error:
//     IsNotFound holds after a 404): the session expired, was cancelled or completed,
//     or the host does not serve the GET; a PUT's 404 is the one to trust;
//   - any other refusal (405, 400...) or an answer without the expected range gives
//     an error wrapping ErrUploadStatusUnknown;
//   - throttling, 5xx and network errors are retried, then returned as they are.
func (c *Client) UploadStatus(ctx context.Context, s UploadSession) (PutResult, error) {
	const op = "upload status"
	r := &request{op: op, method: http.MethodGet, url: s.URL, upload: true, idempotent: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		switch {
		case IsNotFound(err) || IsUnauthorized(err): // 401: the URL's authtoken expired
			return PutResult{}, fmt.Errorf("%w: %w", ErrUploadSessionGone, err)
		case ctx.Err() != nil || IsTransient(err):
			return PutResult{}, err
		}
		return PutResult{}, fmt.Errorf("%w: %w", ErrUploadStatusUnknown, err)
	}
	var v sessionJSON
	if err := decodeJSON(resp, op, &v); err != nil {
		return PutResult{}, fmt.Errorf("%w: %w", ErrUploadStatusUnknown, err)
	}
	next, ok := parseNextExpectedRanges(v.NextExpectedRanges)
	if !ok {
		return PutResult{}, fmt.Errorf("graph: %s: the session did not say which range it expects: %w", op, ErrUploadStatusUnknown)
	}
	res := PutResult{Next: next, Expires: v.ExpirationDateTime.Time}
	if res.Expires.IsZero() {
		res.Expires = s.Expires
	}
	return res, nil
}

// CancelUpload deletes the upload session. A session already gone counts as
// cancelled.
func (c *Client) CancelUpload(ctx context.Context, s UploadSession) error {
	_, err := c.do(ctx, &request{
		op: "cancel upload", method: http.MethodDelete, url: s.URL, upload: true, idempotent: true,
	})
	if IsNotFound(err) || IsUnauthorized(err) { // gone, or its URL's authtoken expired
		return nil
	}
	return err
}
