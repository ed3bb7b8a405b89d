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
// the wire, then mounted again with the same spool. Whether that POST lands is a race the test
// does not control: the body handed to the kernel may still reach Graph (even after the new
// process first looked for it: the link here is 1 MB/s, so a 4 MB body takes 4 s to arrive), or
// the connection may be reset and nothing lands. Every outcome is legitimate but one: the file
// must end attached exactly once, and the log must say which outcome the new process saw. The
// landing window is set short (--landing-window) so that the not-landed outcome takes seconds.
func TestAsyncKillDuringPost(t *testing.T) {
	const window = 8 * time.Second // above the 4 s the body needs at 1 MB/s
	info := startEmulatorProcess(t, "--bandwidth", "1000000")
	home := t.TempDir()
	dir, cmd, logs, done := mountProcessIn(t, info, home, "--async", "--landing-window", window.String())
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
	cmd.Process.Kill()
	<-done
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		t.Fatalf("lazy unmount after kill -9: %v\n%s", err, logs.String())
	}
	// No waiting here: the new process must cope with a POST that is still on its way.
	dir2, cmd2, logs2, done2 := mountProcessIn(t, info, home, "--async", "--landing-window", window.String())
	if dir2 != dir {
		t.Fatalf("remounted at %s, want %s", dir2, dir)
	}
	waitState(t, target, "attached", window+time.Minute)
	// Let the second process finish what it sends, then wait until the emulator serves no
	// request: the killed POST has then landed or ended for good, and so has any resend.
	if err := cmd2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done2:
	case <-time.After(time.Minute):
		t.Fatalf("outlookfs did not exit within a minute of SIGTERM\n%s", logs2.String())
	}
	waitEmulatorIdle(t, info, time.Minute)
	n := attachmentsNamed(t, info, "Crash", "small.bin")
	landed := strings.Contains(logs2.String(), "the earlier POST of small.bin landed")
	resent := strings.Contains(logs2.String(), "the earlier POST of small.bin did not land within the landing window")
	t.Logf("outcome: landed=%v resent=%v attachments=%d", landed, resent, n)
	if n != 1 {
		t.Errorf("small.bin is attached %d times after kill -9 and remount, want once\n%s", n, logs2.String())
	}
	if landed == resent {
		t.Errorf("the new process's log should say either that the earlier POST landed or that it sent the file again (landed=%v resent=%v)\n%s", landed, resent, logs2.String())
	}
}

// waitEmulatorIdle waits until the emulator serves no request (GET /_emulator/stats).
func waitEmulatorIdle(t *testing.T, info emulatorInfo, within time.Duration) {
	t.Helper()
	c := clientFor(t, info.CA)
	base := strings.TrimSuffix(info.Graph, "/v1.0")
	deadline := time.Now().Add(within)
	for {
		var st struct {
			InFlight *int64 `json:"inFlight"`
		}
		getJSON(t, c, "", base+"/_emulator/stats", &st)
		if st.InFlight == nil {
			t.Fatal("the emulator's stats have no inFlight")
		}
		if *st.InFlight == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator still serves %d requests after %v", *st.InFlight, within)
		}
		time.Sleep(50 * time.Millisecond)
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
