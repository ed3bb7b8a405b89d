package graphtest

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	nethttplibrary "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"
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

// TestMicrosoftUploaderThroughEmulator runs Microsoft's own upload code
// (msgraph-sdk-go-core's fileuploader over kiota's net/http adapter) against
// the emulator: the emulator must not fit only our client.
func TestMicrosoftUploaderThroughEmulator(t *testing.T) {
	for _, spelling := range []KeySpelling{CamelCase, PascalCase} {
		name := map[KeySpelling]string{CamelCase: "camelCase", PascalCase: "PascalCase"}[spelling]
		t.Run(name, func(t *testing.T) {
			s := StartT(t, Options{KeySpelling: spelling})
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("for the SDK")
			c := newRaw(t, s, m.Token())

			data := pattern(9<<20 + 12345) // three slices: 4 MiB, 4 MiB, the rest
			path := filepath.Join(t.TempDir(), "big.bin")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()

			// The session is created with raw HTTP, as msgraph-sdk-go would.
			r := c.do("POST", "/me/messages/"+draft+"/attachments/createUploadSession", sessionBody("big.bin", int64(len(data))), nil)
			if r.status != http.StatusCreated {
				t.Fatalf("createUploadSession: %d %s", r.status, r.body)
			}
			body := r.json(t)
			exp, _ := time.Parse(time.RFC3339Nano, body["expirationDateTime"].(string))
			session := &sdkSession{url: body["uploadUrl"].(string), expires: &exp, ranges: []string{"0-"}}

			parse := absser.NewParseNodeFactoryRegistry()
			parse.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
			write := absser.NewSerializationWriterFactoryRegistry()
			write.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
			httpClient := &http.Client{
				Transport: nethttplibrary.NewCustomTransportWithParentTransport(
					s.HTTPClient().Transport, nethttplibrary.GetDefaultMiddlewares()...),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			adapter, err := nethttplibrary.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
				&authentication.AnonymousAuthenticationProvider{}, parse, write, httpClient)
			if err != nil {
				t.Fatal(err)
			}
			adapter.SetBaseUrl(s.GraphURL)

			task := fileuploader.NewLargeFileUploadTask[fileuploader.UploadSessionResponse](
				adapter, session, f, 4<<20, fileuploader.CreateUploadSessionDiscriminator, nil)
			var progress []int64
			res := task.Upload(func(current, total int64) { progress = append(progress, current) })
			if !res.GetUploadSucceeded() {
				t.Fatalf("upload failed: %v", res.GetResponseErrors())
			}
			if len(progress) != 3 {
				t.Fatalf("progress calls %v, want 3 slices", progress)
			}
			// For Outlook the result is the Location, not an item response.
			loc := res.GetURI()
			if loc == nil || !strings.Contains(*loc, "/Attachments('") {
				t.Fatalf("no Location from the SDK: %v", loc)
			}
			aid := attachmentIDFromLocation(t, *loc)
			if got := c.valueOf("/me/messages/"+draft, aid); !bytes.Equal(got, data) {
				t.Fatal("$value differs from the file the SDK uploaded")
			}
			// The SDK sent exactly three PUTs, none with Authorization.
			puts := 0
			for _, rec := range s.Emulator.Requests() {
				if rec.Host == hostUpload {
					puts++
					if rec.Method != "PUT" || (rec.Status != 200 && rec.Status != 201) {
						t.Errorf("SDK request %+v", rec)
					}
				}
			}
			if puts != 3 {
				t.Fatalf("%d upload-host requests, want 3", puts)
			}
		})
	}
}
