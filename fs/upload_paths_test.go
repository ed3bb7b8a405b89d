package fs

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestCopySizesAroundThreeMiB: files of 2.8, 2.9, 3.0 and 3.1 MiB attach once and
// byte-identical through a real cp, whatever the upload host answers to the status GET it is
// not documented to serve (200, 404, 405), with Graph's request limit read as 4 MB (the base64
// POST of a 2.9 MiB file is over it: it goes gzip'ed) and the first PUT (the 3.0 MiB file's only one)
// carried out but answered 500 once (so the outcome must be learned without that GET).
func TestCopySizesAroundThreeMiB(t *testing.T) {
	sizes := []int64{28 << 20 / 10, 29 << 20 / 10, 3 << 20, 31 << 20 / 10}
	for _, status := range []int{http.StatusOK, http.StatusNotFound, http.StatusMethodNotAllowed} {
		t.Run(fmt.Sprintf("status GET %d", status), func(t *testing.T) {
			h := newHarness(t, harnessOptions{emu: graphtest.Options{StatusGET: status, RequestLimit: 4_000_000}})
			h.srv.Emulator.Inject(graphtest.Fault{Host: "upload", Method: "PUT", ApplyThenFail: true, Status: 500})
			id, dir := h.draft("Sizes")
			want := map[string][]byte{}
			for i, n := range sizes {
				src, data := writeSource(t, n, int64(i))
				name := fmt.Sprintf("f%d.bin", n)
				want[name] = data
				h.must("cp", src, filepath.Join(dir, name))
			}
			atts := h.mb.Attachments(id)
			if len(atts) != len(sizes) {
				t.Fatalf("%d attachments, want %d", len(atts), len(sizes))
			}
			for _, a := range atts {
				if !bytes.Equal(a.Data, want[a.Name]) {
					t.Errorf("%s: %d bytes attached, want the %d copied", a.Name, len(a.Data), len(want[a.Name]))
				}
			}
		})
	}
}
