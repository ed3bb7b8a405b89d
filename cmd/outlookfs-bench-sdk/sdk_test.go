package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestMicrosoftUploaderThroughEmulator runs Microsoft's own upload code
// (msgraph-sdk-go-core's fileuploader over kiota's net/http adapter) against
// the emulator: the emulator must not fit only our client. It lives in this
// benchmark-only module so that the product's go.mod does not list the SDK;
// `make test-sdk` (and `make bench`) run it.
func TestMicrosoftUploaderThroughEmulator(t *testing.T) {
	for _, spelling := range []graphtest.KeySpelling{graphtest.CamelCase, graphtest.PascalCase} {
		name := map[graphtest.KeySpelling]string{graphtest.CamelCase: "camelCase", graphtest.PascalCase: "PascalCase"}[spelling]
		t.Run(name, func(t *testing.T) {
			s := graphtest.StartT(t, graphtest.Options{KeySpelling: spelling})
			m := s.Emulator.AddMailbox("a@outlookfs.test")
			draft := m.AddDraft("for the SDK")

			data := graphtest.DemoBytes(9<<20+12345, 7) // three slices: 4 MiB, 4 MiB, the rest
			path := filepath.Join(t.TempDir(), "big.bin")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var progress []int64
			loc, err := sdkUpload(s, m.Token(), draft, path, 4<<20, func(current, total int64) { progress = append(progress, current) })
			if err != nil {
				t.Fatal(err)
			}
			if len(progress) != 3 {
				t.Fatalf("progress calls %v, want 3 slices", progress)
			}
			if !strings.Contains(loc, "/Attachments('") {
				t.Fatalf("no Location from the SDK: %q", loc)
			}
			aid := attachmentIDFromLocation(t, loc)
			if got := valueOf(t, s, m.Token(), "/me/messages/"+draft, aid); !bytes.Equal(got, data) {
				t.Fatal("$value differs from the file the SDK uploaded")
			}
			// The SDK sent exactly three PUTs to the upload host, each accepted.
			puts := 0
			for _, rec := range s.Emulator.Requests() {
				if rec.Host == "upload" {
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

// valueOf downloads an attachment's $value through Graph.
func valueOf(t testing.TB, s *graphtest.Server, token, itemPath, aid string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.GraphURL+itemPath+"/attachments/"+aid+"/$value", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("$value: %d %s", res.StatusCode, b)
	}
	return b
}
