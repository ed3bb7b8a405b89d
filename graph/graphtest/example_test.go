package graphtest_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// Start serves the emulator over TLS on loopback; HTTPClient trusts its CA.
func ExampleStart() {
	srv, err := graphtest.Start(graphtest.Options{}, graphtest.ServerOptions{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	mb := graphtest.Seed(srv.Emulator)

	req, _ := http.NewRequest("GET", srv.GraphURL+"/me/mailFolders/drafts/messages?$select=subject&$top=1", nil)
	req.Header.Set("Authorization", "Bearer "+mb.Token())
	res, err := srv.HTTPClient().Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	fmt.Println(res.StatusCode, res.Header.Get("Content-Type")[:16])
	// Output: 200 application/json
}
