package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAsyncKillDuringPost: outlookfs --async is killed (-9) while the POST of a small file is on
// the wire, then mounted again with the same spool. The body it had handed to the kernel still
// reaches Graph, which creates the attachment after the new process first looked for it (the
// link here is 1 MB/s: a 3 MB body takes 3 s to arrive). The file must end attached once, not
// twice (the new process used to send it again as soon as it saw no attachment).
func TestAsyncKillDuringPost(t *testing.T) {
	info := startEmulatorProcess(t, "--bandwidth", "1000000")
	home := t.TempDir()
	dir, cmd, logs, done := mountProcessIn(t, info, home, "--async")
	draft := filepath.Join(dir, "drafts", "Crash")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 300_000) // 3,000,000 bytes: one POST (under 3 MiB)
	src := filepath.Join(t.TempDir(), "small.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(draft, "small.bin")
	if out, err := exec.Command("cp", src, target).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	waitState(t, target, "uploading", 30*time.Second)
	time.Sleep(300 * time.Millisecond) // the client hands the body to the kernel
	cmd.Process.Kill()
	<-done
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		t.Fatalf("lazy unmount after kill -9: %v\n%s", err, logs.String())
	}
	if n := attachmentsNamed(t, info, "Crash", "small.bin"); n != 0 {
		t.Fatalf("the POST landed before the kill (%d attachments): the test did not kill mid-POST; slow the link", n)
	}

	dir2, _, logs2, _ := mountProcessIn(t, info, home, "--async")
	if dir2 != dir {
		t.Fatalf("remounted at %s, want %s", dir2, dir)
	}
	waitState(t, target, "attached", time.Minute)
	// Give a second upload (if one was sent) time to arrive over the slow link.
	time.Sleep(4 * time.Second)
	if n := attachmentsNamed(t, info, "Crash", "small.bin"); n != 1 {
		t.Errorf("small.bin is attached %d times after kill -9 and remount, want once\n%s", n, logs2.String())
	}
}

// waitState polls user.outlookfs.state of path until it starts with want.
func waitState(t *testing.T, path, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got string
	for time.Now().Before(deadline) {
		buf := make([]byte, 256)
		if n, err := syscall.Getxattr(path, "user.outlookfs.state", buf); err == nil {
			got = string(buf[:n])
			if strings.HasPrefix(got, want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: user.outlookfs.state is %q, want %s", path, got, want)
}

// attachmentsNamed asks Graph (not the mount) how many attachments of the draft with this
// subject are called name. It waits out throttling: a killed client's requests may still hold
// the mailbox's slots.
func attachmentsNamed(t *testing.T, info emulatorInfo, subject, name string) int {
	t.Helper()
	c := clientFor(t, info.CA)
	var drafts struct {
		Value []struct{ ID, Subject string } `json:"value"`
	}
	getJSONPatiently(t, c, info.Token, info.Graph+"/me/mailFolders/drafts/messages?$select=id,subject&$top=50", &drafts)
	id := ""
	for _, d := range drafts.Value {
		if d.Subject == subject {
			id = d.ID
		}
	}
	if id == "" {
		t.Fatalf("no draft %q", subject)
	}
	var atts struct {
		Value []struct{ ID, Name string } `json:"value"`
	}
	getJSONPatiently(t, c, info.Token, info.Graph+"/me/messages/"+url.PathEscape(id)+"/attachments?$select=id,name", &atts)
	n := 0
	for _, a := range atts.Value {
		if a.Name == name {
			n++
		}
	}
	return n
}

func getJSONPatiently(t *testing.T, c *http.Client, token, u string, v any) {
	t.Helper()
	for try := 0; ; try++ {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTooManyRequests && try < 60:
			time.Sleep(500 * time.Millisecond)
			continue
		case resp.StatusCode != http.StatusOK:
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(fmt.Errorf("GET %s: %w", u, err))
		}
		return
	}
}
