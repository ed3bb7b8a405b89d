package graphtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// rawClient sends raw HTTP to a test server (not through the graph client).
type rawClient struct {
	t   testing.TB
	s   *Server
	hc  *http.Client
	tok string
}

func newRaw(t testing.TB, s *Server, tok string) *rawClient {
	return &rawClient{t: t, s: s, hc: s.HTTPClient(), tok: tok}
}

// resp is an answer read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %q", r.status, err, r.body)
	}
	return m
}

// code is the Graph error code of an error answer.
func (r resp) code(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("answer %d has no error envelope: %q", r.status, r.body)
	}
	c, _ := e["code"].(string)
	return c
}

// do sends a request. url may be absolute or relative to GraphURL.
// body: nil, []byte (sent as is) or any (JSON).
func (c *rawClient) do(method, url string, body any, hdr map[string]string) resp {
	c.t.Helper()
	r, err := c.try(context.Background(), method, url, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// try is do returning transport errors instead of failing the test.
func (c *rawClient) try(ctx context.Context, method, url string, body any, hdr map[string]string) (resp, error) {
	req := c.request(method, url, body, hdr).WithContext(ctx)
	res, err := c.hc.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

func (c *rawClient) request(method, url string, body any, hdr map[string]string) *http.Request {
	c.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = c.s.GraphURL + url
	}
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		isJSON = true
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.tok != "" && strings.HasPrefix(url, c.s.RootURL) {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pattern returns n deterministic bytes that differ from offset to offset.
func pattern(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func fileAttachmentBody(name string, data []byte) map[string]any {
	return map[string]any{
		"@odata.type":  "#microsoft.graph.fileAttachment",
		"name":         name,
		"contentType":  "application/octet-stream",
		"contentBytes": base64.StdEncoding.EncodeToString(data),
	}
}

func sessionBody(name string, size int64) map[string]any {
	return map[string]any{"AttachmentItem": map[string]any{"attachmentType": "file", "name": name, "size": size}}
}

// createSession creates an upload session on a draft and returns its URL.
func (c *rawClient) createSession(itemPath, name string, size int64) string {
	c.t.Helper()
	r := c.do("POST", itemPath+"/attachments/createUploadSession", sessionBody(name, size), nil)
	if r.status != http.StatusCreated {
		c.t.Fatalf("createUploadSession: %d %s", r.status, r.body)
	}
	u, _ := r.json(c.t)["uploadUrl"].(string)
	if u == "" {
		c.t.Fatalf("no uploadUrl: %s", r.body)
	}
	return u
}

// put sends one range of data to an upload URL, without Authorization.
func (c *rawClient) put(uploadURL string, data []byte, first, last int64) resp {
	c.t.Helper()
	return c.do("PUT", uploadURL, data[first:last+1], map[string]string{
		"Content-Range": fmt.Sprintf("bytes %d-%d/%d", first, last, len(data)),
		"Content-Type":  "application/octet-stream",
	})
}

// uploadAll uploads data in ranges of chunk bytes and returns the final answer.
func (c *rawClient) uploadAll(uploadURL string, data []byte, chunk int64) resp {
	c.t.Helper()
	return c.uploadFrom(uploadURL, data, 0, chunk)
}

// uploadFrom uploads data from offset from on.
func (c *rawClient) uploadFrom(uploadURL string, data []byte, from, chunk int64) resp {
	c.t.Helper()
	var r resp
	for off := from; off < int64(len(data)); off += chunk {
		last := min(off+chunk, int64(len(data))) - 1
		r = c.put(uploadURL, data, off, last)
		if r.status != http.StatusOK && r.status != http.StatusCreated {
			c.t.Fatalf("PUT %d-%d: %d %s", off, last, r.status, r.body)
		}
	}
	return r
}

// attachmentIDFromLocation extracts the id in Attachments('...').
func attachmentIDFromLocation(t testing.TB, loc string) string {
	t.Helper()
	i := strings.LastIndex(loc, "Attachments('")
	j := strings.LastIndex(loc, "')")
	if i < 0 || j < i {
		t.Fatalf("Location %q has no Attachments('...')", loc)
	}
	return loc[i+len("Attachments('") : j]
}

// nextOffset asks an upload URL where it stands (GET) and parses the bare offset.
func (c *rawClient) nextOffset(uploadURL string) int64 {
	c.t.Helper()
	r := c.do("GET", uploadURL, nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("status GET: %d %s", r.status, r.body)
	}
	rr, _ := r.json(c.t)["nextExpectedRanges"].([]any)
	if len(rr) != 1 {
		c.t.Fatalf("nextExpectedRanges %v", rr)
	}
	s, _ := rr[0].(string)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		c.t.Fatalf("nextExpectedRanges %q is not a bare offset", s)
	}
	return n
}

// valueOf downloads an attachment's $value.
func (c *rawClient) valueOf(itemPath, aid string) []byte {
	c.t.Helper()
	r := c.do("GET", itemPath+"/attachments/"+aid+"/$value", nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("$value: %d %s", r.status, r.body)
	}
	return r.body
}
