package graphtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// readJSON reads a Graph request body into v: gzip'ed bodies are accepted,
// the request-size limit applies (on the wire or decoded, per Options), and
// the body must be JSON. On failure it answers and returns false.
func (c *call) readJSON(v any) bool {
	o := c.e.opts
	wireLimit := o.RequestLimit
	if o.RequestLimitDecoded {
		wireLimit = maxDecodedBodySize
	}
	if c.r.ContentLength > wireLimit {
		c.tooLarge()
		return false
	}
	wire, err := io.ReadAll(io.LimitReader(c.r.Body, wireLimit+1))
	if err != nil {
		writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "The request body could not be read.")
		return false
	}
	if int64(len(wire)) > wireLimit {
		c.tooLarge()
		return false
	}
	body := wire
	switch enc := strings.ToLower(strings.TrimSpace(c.r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "The gzip'ed request body is corrupt.")
			return false
		}
		body, err = io.ReadAll(io.LimitReader(zr, maxDecodedBodySize+1))
		if err != nil {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "The gzip'ed request body is corrupt.")
			return false
		}
	default:
		writeError(c.w, c.r, http.StatusUnsupportedMediaType, codeUnsupportedType, "Content-Encoding '"+enc+"' is not supported.")
		return false
	}
	if int64(len(body)) > maxDecodedBodySize || (int64(len(body)) > o.RequestLimit && o.RequestLimitDecoded) {
		c.tooLarge()
		return false
	}
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest,
			"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil || dec.More() {
		if err == nil {
			err = errors.New("trailing data")
		}
		writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest,
			"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return false
	}
	return true
}

// tooLarge answers a body over the request-size limit.
func (c *call) tooLarge() {
	status := c.e.opts.RequestLimitStatus
	switch status {
	case http.StatusInternalServerError: // an empty 500, as seen from Graph
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(status)
	case http.StatusBadRequest:
		writeError(c.w, c.r, status, codeBadRequest, c.e.opts.RequestLimitMessage)
	default:
		writeError(c.w, c.r, status, codeTooLarge, c.e.opts.RequestLimitMessage)
	}
}
