package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	nethttplibrary "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// sdkSession is the upload session model fileuploader wants (msgraph-sdk-go's
// models.UploadSession, without pulling that module in).
type sdkSession struct {
	url     string
	expires *time.Time
	ranges  []string
}

var _ fileuploader.UploadSession = (*sdkSession)(nil)

func (s *sdkSession) GetExpirationDateTime() *time.Time  { return s.expires }
func (s *sdkSession) SetExpirationDateTime(t *time.Time) { s.expires = t }
func (s *sdkSession) GetNextExpectedRanges() []string    { return s.ranges }
func (s *sdkSession) SetNextExpectedRanges(r []string)   { s.ranges = r }
func (s *sdkSession) GetOdataType() *string              { t := "#microsoft.graph.uploadSession"; return &t }
func (s *sdkSession) GetUploadUrl() *string              { return &s.url }

// createSession creates an attachment upload session on a draft with raw HTTP, as an
// msgraph-sdk-go user would through the generated request builders.
func createSession(srv *graphtest.Server, token, draftID, name string, size int64) (*sdkSession, error) {
	body, err := json.Marshal(map[string]any{"AttachmentItem": map[string]any{"attachmentType": "file", "name": name, "size": size}})
	if err != nil {
		return nil, fmt.Errorf("session body: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.GraphURL+"/me/messages/"+draftID+"/attachments/createUploadSession", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("createUploadSession: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.HTTPClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("createUploadSession: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("createUploadSession: %w", err)
	}
	if res.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("createUploadSession: %d %s", res.StatusCode, b)
	}
	var s struct {
		UploadURL  string `json:"uploadUrl"`
		Expiration string `json:"expirationDateTime"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("createUploadSession's answer: %w", err)
	}
	exp, err := time.Parse(time.RFC3339Nano, s.Expiration)
	if err != nil {
		return nil, fmt.Errorf("createUploadSession's expirationDateTime: %w", err)
	}
	return &sdkSession{url: s.UploadURL, expires: &exp, ranges: []string{"0-"}}, nil
}

// sdkAdapter is kiota's net/http request adapter with its default middlewares, over srv's
// transport (which trusts the emulator's CA).
func sdkAdapter(srv *graphtest.Server) (*nethttplibrary.NetHttpRequestAdapter, error) {
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
	write := absser.NewSerializationWriterFactoryRegistry()
	write.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
	httpClient := &http.Client{
		Transport: nethttplibrary.NewCustomTransportWithParentTransport(
			srv.HTTPClient().Transport, nethttplibrary.GetDefaultMiddlewares()...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := nethttplibrary.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		&authentication.AnonymousAuthenticationProvider{}, parse, write, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kiota adapter: %w", err)
	}
	adapter.SetBaseUrl(srv.GraphURL)
	return adapter, nil
}

// sdkUpload uploads the file at path as an attachment of draftID with msgraph-sdk-go-core's
// LargeFileUploadTask in slices of slice bytes (the session included) and returns the
// attachment's Location. progress, when set, is called after each slice.
func sdkUpload(srv *graphtest.Server, token, draftID, path string, slice int64, progress func(current, total int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sdk upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("sdk upload: %w", err)
	}
	session, err := createSession(srv, token, draftID, "sdk.bin", st.Size())
	if err != nil {
		return "", err
	}
	adapter, err := sdkAdapter(srv)
	if err != nil {
		return "", err
	}
	task := fileuploader.NewLargeFileUploadTask[fileuploader.UploadSessionResponse](
		adapter, session, f, slice, fileuploader.CreateUploadSessionDiscriminator, nil)
	if progress == nil {
		progress = func(int64, int64) {}
	}
	res := task.Upload(progress)
	if !res.GetUploadSucceeded() {
		return "", fmt.Errorf("sdk upload failed: %v", res.GetResponseErrors())
	}
	// For Outlook the result is the Location, not an item response.
	if loc := res.GetURI(); loc != nil {
		return *loc, nil
	}
	return "", fmt.Errorf("sdk upload: no Location")
}
