package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/outlookfs/outlookfs/graph/graphtest"
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

// builtBinary is the outlookfs binary these tests drive, built once, or the one named by
// $OUTLOOKFS_BINARY (`make test-e2e` and `make test-posix` drive the bin/outlookfs they built).
var builtBinary string

func TestMain(m *testing.M) {
	if b := os.Getenv("OUTLOOKFS_BINARY"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			panic(err)
		}
		builtBinary = abs
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "outlookfs-cli-test-")
	if err != nil {
		panic(err)
	}
	builtBinary = filepath.Join(dir, "outlookfs")
	if out, err := exec.Command("go", "build", "-o", builtBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startEmulatorProcess runs `outlookfs emulator` and returns what it printed on start.
func startEmulatorProcess(t *testing.T, args ...string) emulatorInfo {
	t.Helper()
	cmd := exec.Command(builtBinary, append([]string{"emulator", "--ca-file", filepath.Join(t.TempDir(), "ca.pem")}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("emulator printed no start line: %v\n%s", err, stderr.String())
	}
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("start line %q: %v", line, err)
	}
	return info
}

func clientFor(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in " + caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
}

func getJSON(t *testing.T, c *http.Client, token, u string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func TestEmulatorCommand(t *testing.T) {
	info := startEmulatorProcess(t)
	for name, v := range map[string]string{"graph": info.Graph, "upload": info.Upload, "token": info.Token, "ca": info.CA, "authority": info.Authority, "client_id": info.ClientID} {
		if v == "" {
			t.Errorf("start line has no %s", name)
		}
	}
	if !strings.HasSuffix(info.Graph, "/v1.0") || !strings.HasPrefix(info.Graph, "https://") {
		t.Errorf("graph URL %q", info.Graph)
	}
	var page struct {
		Value []struct{ Subject string } `json:"value"`
	}
	getJSON(t, clientFor(t, info.CA), info.Token, info.Graph+"/me/mailFolders/drafts/messages?$select=subject&$top=50", &page)
	found := false
	for _, m := range page.Value {
		found = found || m.Subject == "Quarterly report"
	}
	if !found {
		t.Errorf("the demo mailbox's drafts: %+v", page.Value)
	}
}

// waitMounted waits until dir is a mountpoint (or the process died).
func waitMounted(t *testing.T, dir string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if isMountpoint(dir) {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("outlookfs exited before mounting: %v", err) // logs are printed by the caller
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s never got mounted", dir)
}

func isMountpoint(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// mountProcess runs `outlookfs mount DIR` against the emulator with a token file, in its own
// XDG directories, and waits until it is mounted.
func mountProcess(t *testing.T, info emulatorInfo, extra ...string) (dir string, cmd *exec.Cmd, logs *graphtest.LogBuffer, done chan error) {
	t.Helper()
	return mountProcessIn(t, info, t.TempDir(), extra...)
}

// mountProcessIn is mountProcess with its XDG directories (spool, cache) and mountpoint under
// home: a second call with the same home is a remount with the same spool.
func mountProcessIn(t *testing.T, info emulatorInfo, home string, extra ...string) (dir string, cmd *exec.Cmd, logs *graphtest.LogBuffer, done chan error) {
	t.Helper()
	tokenFile := filepath.Join(home, "token")
	os.WriteFile(tokenFile, []byte(info.Token+"\n"), 0o600)
	dir = filepath.Join(home, "mnt")
	os.Mkdir(dir, 0o755)
	args := append([]string{"mount", dir, "--graph-url", info.Graph, "--token-file", tokenFile, "--ca-file", info.CA}, extra...)
	cmd = exec.Command(builtBinary, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	logs = &graphtest.LogBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if isMountpoint(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		cmd.Process.Kill()
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("outlookfs mount log:\n%s", logs.String())
		}
	})
	waitMounted(t, dir, done)
	return dir, cmd, logs, done
}

// In US Gov clouds there are no attachment upload sessions: a file reaching 3 MiB fails with
// EFBIG and the log says why; smaller files still attach.
func TestMountNoUploadSessionsCloud(t *testing.T) {
	info := startEmulatorProcess(t)
	dir, _, logs, _ := mountProcess(t, info, "--cloud", "usgov-l4")
	draft := filepath.Join(dir, "drafts", "Quarterly report")
	small := filepath.Join(t.TempDir(), "small")
	os.WriteFile(small, bytes.Repeat([]byte("s"), 3<<20-1), 0o644)
	if out, err := exec.Command("cp", small, filepath.Join(draft, "small.bin")).CombinedOutput(); err != nil {
		t.Fatalf("cp of 3 MiB - 1: %v %s", err, out)
	}
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, bytes.Repeat([]byte("b"), 3<<20), 0o644)
	out, err := exec.Command("cp", big, filepath.Join(draft, "big.bin")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "File too large") {
		t.Errorf("cp of 3 MiB in a cloud without upload sessions: %v %s, want EFBIG", err, out)
	}
	if !strings.Contains(logs.String(), "no attachment upload sessions") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(draft, "big.bin")); !os.IsNotExist(err) {
		t.Errorf("big.bin is listed after EFBIG: %v", err)
	}
}

func TestMountBinaryCopyAndSignal(t *testing.T) {
	info := startEmulatorProcess(t)
	dir, cmd, logs, done := mountProcess(t, info)

	target := filepath.Join(dir, "drafts", "Quarterly report", "from-cli.txt")
	if out, err := exec.Command("cp", "/etc/os-release", target).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s\n%s", err, out, logs.String())
	}
	want, _ := os.ReadFile("/etc/os-release")
	// Check through Graph itself, not through the mount.
	var drafts struct {
		Value []struct{ ID, Subject string } `json:"value"`
	}
	c := clientFor(t, info.CA)
	getJSON(t, c, info.Token, info.Graph+"/me/mailFolders/drafts/messages?$select=id,subject&$top=50", &drafts)
	var id string
	for _, d := range drafts.Value {
		if d.Subject == "Quarterly report" {
			id = d.ID
		}
	}
	var atts struct {
		Value []struct{ ID, Name string } `json:"value"`
	}
	getJSON(t, c, info.Token, info.Graph+"/me/messages/"+url.PathEscape(id)+"/attachments?$select=id,name", &atts)
	var attID string
	for _, a := range atts.Value {
		if a.Name == "from-cli.txt" {
			attID = a.ID
		}
	}
	if attID == "" {
		t.Fatalf("from-cli.txt not attached: %+v", atts.Value)
	}
	req, _ := http.NewRequest(http.MethodGet, info.Graph+"/me/messages/"+url.PathEscape(id)+"/attachments/"+url.PathEscape(attID)+"/$value", nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, want) {
		t.Errorf("$value: %d bytes, want %d", len(got), len(want))
	}

	// outlookfs status reads the mount's status files.
	st, err := exec.Command(builtBinary, "status", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(st), "close: synchronous") || !strings.Contains(string(st), "== failures") {
		t.Errorf("outlookfs status: %v\n%s", err, st)
	}

	// SIGTERM unmounts cleanly and exits 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("outlookfs mount exited with %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("outlookfs mount did not exit after SIGTERM")
	}
	if isMountpoint(dir) {
		t.Error("still mounted after SIGTERM")
	}
	if strings.Contains(logs.String(), info.Token) {
		t.Error("the log contains the token")
	}
}

func TestDemoTour(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, builtBinary, "demo", "--tour", dir)
	cmd.Stdin = nil // not a terminal: the demo exits after its tour
	t.Cleanup(func() {
		if isMountpoint(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("outlookfs demo --tour: %v\n%s", err, out)
	}
	for _, want := range []string{"Signed in as", "Quarterly report", "cp exited 0: the file is attached", "Hello from outlookfs", "Standup"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the tour's output lacks %q:\n%s", want, out)
		}
	}
	if isMountpoint(dir) {
		t.Error("the demo left its mount behind")
	}
}

func TestUnknownCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("run(frobnicate) = %d, %q", code, stderr.String())
	}
}

// outlookfs unmount ends a mount; the mounting process notices and exits 0.
func TestUnmountCommand(t *testing.T) {
	info := startEmulatorProcess(t)
	dir, _, logs, done := mountProcess(t, info)
	if out, err := exec.Command(builtBinary, "unmount", dir).CombinedOutput(); err != nil {
		t.Fatalf("outlookfs unmount: %v %s", err, out)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("outlookfs mount exited with %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("outlookfs mount did not exit after outlookfs unmount")
	}
	if isMountpoint(dir) {
		t.Error("still mounted")
	}
}

// The user journey: login once with the settings, then whoami and mount with none of them
// (login saved them in the profile's config), signing in silently through MSAL's token cache.
func TestLoginThenMountWithoutFlags(t *testing.T) {
	info := startEmulatorProcess(t)
	home := t.TempDir()
	env := append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(builtBinary, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("outlookfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("login", "--authority", info.Authority, "--client-id", info.ClientID, "--graph-url", info.Graph, "--ca-file", info.CA)
	if !strings.Contains(out, "Signed in as") || !strings.Contains(out, "Saved") {
		t.Fatalf("login said:\n%s", out)
	}
	if out := run("whoami"); !strings.Contains(out, info.Mailbox) {
		t.Errorf("whoami without flags:\n%s", out)
	}
	dir := filepath.Join(home, "mnt")
	os.Mkdir(dir, 0o755)
	cmd := exec.Command(builtBinary, "mount", dir)
	cmd.Env = env
	logs := &graphtest.LogBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if isMountpoint(dir) {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("mount log:\n%s", logs.String())
		}
	})
	waitMounted(t, dir, done)
	if out, err := exec.Command("cp", "/etc/hostname", filepath.Join(dir, "drafts", "Quarterly report", "h.txt")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("mount exited with %v", err)
	}
	for _, secret := range []string{info.Token, "authtoken"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the mount's log contains %q", secret)
		}
	}
}

// Whatever the umask it was started with, outlookfs mount keeps its state and cache private:
// directories 0700, files readable by their owner only (the spool's Badger files hold upload
// session URLs, which are credentials; the cache holds attachment bytes).
func TestMountStateIsPrivate(t *testing.T) {
	info := startEmulatorProcess(t)
	old := syscall.Umask(0)
	dir, cmd, logs, done := mountProcess(t, info)
	syscall.Umask(old)
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, bytes.Repeat([]byte("b"), 5<<20), 0o600)
	if out, err := exec.Command("cp", big, filepath.Join(dir, "drafts", "Quarterly report", "big.bin")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s\n%s", err, out, logs.String())
	}
	home := filepath.Dir(dir)
	for _, root := range []string{filepath.Join(home, "state"), filepath.Join(home, "cache")} {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil // removed meanwhile
			}
			if d.IsDir() && path != root && fi.Mode().Perm() != 0o700 {
				t.Errorf("directory %s: mode %v, want 0700", path, fi.Mode().Perm())
			}
			if !d.IsDir() && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("file %s: mode %v, open to others", path, fi.Mode().Perm())
			}
			return nil
		})
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-done
}
