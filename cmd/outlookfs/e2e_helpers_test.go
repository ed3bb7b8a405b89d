//go:build e2e

package main

// The end-to-end suite (make test-e2e): the built binary, `outlookfs emulator` and `outlookfs
// mount` as separate processes, driven by real programs. Graph is always asked through its own
// HTTP API, never through the mount. See docs/e2e.md.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// e2eSeed is the suite's random seed: OUTLOOKFS_E2E_SEED, else the time. It is printed so that
// a failing run can be replayed.
func e2eSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("OUTLOOKFS_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OUTLOOKFS_E2E_SEED=%q: %v", s, err)
		}
		t.Logf("seed %d (from OUTLOOKFS_E2E_SEED)", v)
		return v
	}
	v := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay with OUTLOOKFS_E2E_SEED=%d)", v, v)
	return v
}

// e2eMount is one `outlookfs mount` process on a home (spool, cache) that outlives it.
type e2eMount struct {
	t    *testing.T
	info emulatorInfo
	home string
	args []string
	dir  string
	cmd  *exec.Cmd
	logs *graphtest.LogBuffer
	done chan error
}

func startMount(t *testing.T, info emulatorInfo, home string, args ...string) *e2eMount {
	t.Helper()
	dir, cmd, logs, done := mountProcessIn(t, info, home, args...)
	return &e2eMount{t: t, info: info, home: home, args: args, dir: dir, cmd: cmd, logs: logs, done: done}
}

// kill9 kills the mount process and detaches its dead mount.
func (m *e2eMount) kill9() {
	m.t.Helper()
	m.cmd.Process.Kill()
	<-m.done
	if isMountpoint(m.dir) {
		if err := syscall.Unmount(m.dir, syscall.MNT_DETACH); err != nil {
			m.t.Fatalf("lazy unmount after kill -9: %v", err)
		}
	}
}

// term sends SIGTERM and waits (at most within) for a clean exit and unmount.
func (m *e2eMount) term(within time.Duration) {
	m.t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		if err != nil {
			m.t.Errorf("outlookfs mount exited with %v after SIGTERM\n%s", err, m.logs.String())
		}
	case <-time.After(within):
		m.t.Fatalf("outlookfs mount did not exit within %v of SIGTERM\n%s", within, m.logs.String())
	}
	if isMountpoint(m.dir) {
		m.t.Errorf("%s still mounted after SIGTERM", m.dir)
	}
}

// spoolCounts parses .outlookfs/status: writing, waiting, uploading, failed.
var spoolLine = regexp.MustCompile(`spool: (\d+) writing, (\d+) waiting, (\d+) uploading, (\d+) failed`)

func (m *e2eMount) spoolCounts() (writing, waiting, uploading, failed int, ok bool) {
	b, err := os.ReadFile(filepath.Join(m.dir, ".outlookfs", "status"))
	if err != nil {
		return 0, 0, 0, 0, false
	}
	s := spoolLine.FindStringSubmatch(string(b))
	if s == nil {
		return 0, 0, 0, 0, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(s[i]); return v }
	return n(1), n(2), n(3), n(4), true
}

// waitQuiet waits until the spool has nothing waiting or uploading and the emulator serves no
// request.
func (m *e2eMount) waitQuiet(within time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, waiting, uploading, _, ok := m.spoolCounts()
		if ok && waiting == 0 && uploading == 0 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(m.dir, ".outlookfs", "uploads"))
			m.t.Fatalf("the spool is still busy after %v:\n%s", within, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitEmulatorIdle(m.t, m.info, time.Until(deadline)+time.Second)
}

// graphAPI asks the emulator's Graph (and control endpoints) directly.
type graphAPI struct {
	t    *testing.T
	info emulatorInfo
	c    *http.Client
}

func newGraphAPI(t *testing.T, info emulatorInfo) *graphAPI {
	return &graphAPI{t: t, info: info, c: clientFor(t, info.CA)}
}

func (g *graphAPI) control(method, path string, body any) {
	g.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			g.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, strings.TrimSuffix(g.info.Graph, "/v1.0")+"/_emulator/"+path, r)
	resp, err := g.c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		g.t.Fatalf("%s /_emulator/%s: %d %s", method, path, resp.StatusCode, b)
	}
}

func (g *graphAPI) inject(f ...graphtest.Fault) { g.t.Helper(); g.control("POST", "faults", f) }
func (g *graphAPI) clearFaults()                { g.t.Helper(); g.control("DELETE", "faults", nil) }
func (g *graphAPI) expireSessions()             { g.t.Helper(); g.control("POST", "expire-sessions", nil) }

// pages GETs a collection, following @odata.nextLink, into raw values.
func (g *graphAPI) pages(u string) []json.RawMessage {
	g.t.Helper()
	var all []json.RawMessage
	for u != "" {
		var page struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		getJSONPatiently(g.t, g.c, g.info.Token, u, &page)
		all = append(all, page.Value...)
		u = page.Next
	}
	return all
}

// draftID is the id of the draft with this subject ("" if none).
func (g *graphAPI) draftID(subject string) string {
	g.t.Helper()
	for _, raw := range g.pages(g.info.Graph + "/me/mailFolders/drafts/messages?$select=id,subject&$top=100") {
		var d struct{ ID, Subject string }
		json.Unmarshal(raw, &d)
		if d.Subject == subject {
			return d.ID
		}
	}
	return ""
}

type attachment struct {
	ID, Name string
}

// attachments lists an item's attachments by name.
func (g *graphAPI) attachments(itemID string) map[string][]attachment {
	g.t.Helper()
	out := map[string][]attachment{}
	for _, raw := range g.pages(g.info.Graph + "/me/messages/" + url.PathEscape(itemID) + "/attachments?$select=id,name&$top=100") {
		var a attachment
		json.Unmarshal(raw, &a)
		out[a.Name] = append(out[a.Name], a)
	}
	return out
}

// valueHash is the SHA-256 and length of an attachment's $value.
func (g *graphAPI) valueHash(itemID, attID string) (string, int64) {
	g.t.Helper()
	h, n, gone := g.valueHashOrGone(itemID, attID)
	if gone {
		g.t.Fatalf("$value of %s: 404, the attachment is gone", attID)
	}
	return h, n
}

// valueHashOrGone is valueHash that reports an attachment deleted meanwhile (404) as gone.
func (g *graphAPI) valueHashOrGone(itemID, attID string) (string, int64, bool) {
	g.t.Helper()
	for try := 0; ; try++ {
		req, _ := http.NewRequest(http.MethodGet, g.info.Graph+"/me/messages/"+url.PathEscape(itemID)+"/attachments/"+url.PathEscape(attID)+"/$value", nil)
		req.Header.Set("Authorization", "Bearer "+g.info.Token)
		resp, err := g.c.Do(req)
		if err != nil {
			g.t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && try < 60 {
			resp.Body.Close()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return "", 0, true
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			g.t.Fatalf("$value of %s: %d %s", attID, resp.StatusCode, b)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil {
			g.t.Fatalf("$value of %s: %v", attID, err)
		}
		return hex.EncodeToString(h.Sum(nil)), n, false
	}
}

func (g *graphAPI) deleteMessage(id string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, g.info.Graph+"/me/messages/"+url.PathEscape(id), nil)
	req.Header.Set("Authorization", "Bearer "+g.info.Token)
	resp, err := g.c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		g.t.Fatalf("DELETE message: %d", resp.StatusCode)
	}
}

// srcFile is a local file with known bytes, the source of a copy.
type srcFile struct {
	name string // name in the mount
	path string // local path
	size int64
	hash string
}

// makeSource writes size pseudo-random bytes (from seed) to dir/name.
func makeSource(t *testing.T, dir, name string, size int64, seed uint64) srcFile {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		for i := int64(0); i < n; i += 8 {
			v := r.Uint64()
			for j := int64(0); j < 8 && i+j < n; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		f.Write(buf[:n])
		h.Write(buf[:n])
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return srcFile{name: name, path: p, size: size, hash: hex.EncodeToString(h.Sum(nil))}
}

// checkAttached asserts that want is attached to the item exactly once, byte-identical.
func (g *graphAPI) checkAttached(itemID string, atts map[string][]attachment, want srcFile, what string) {
	g.t.Helper()
	got := atts[want.name]
	if len(got) != 1 {
		g.t.Errorf("%s: %s (%d B) attached %d times, want once", what, want.name, want.size, len(got))
		return
	}
	h, n := g.valueHash(itemID, got[0].ID)
	if h != want.hash || n != want.size {
		g.t.Errorf("%s: %s attached with %d bytes (sha256 %.12s), want %d (%.12s)", what, want.name, n, h, want.size, want.hash)
	}
}

// checkAttachedOrGone: a copy that failed may have been attached (Graph had it before the
// process died) and may be deleted at any moment by the next mount, which removes what a failed
// copy left: it is attached at most once, identical while it is there, or gone.
func (g *graphAPI) checkAttachedOrGone(itemID string, atts map[string][]attachment, want srcFile, what string) {
	g.t.Helper()
	got := atts[want.name]
	if len(got) > 1 {
		g.t.Errorf("%s: %s (%d B) attached %d times, want at most once", what, want.name, want.size, len(got))
		return
	}
	if len(got) == 0 {
		return
	}
	h, n, gone := g.valueHashOrGone(itemID, got[0].ID)
	if !gone && (h != want.hash || n != want.size) {
		g.t.Errorf("%s: %s attached with %d bytes (sha256 %.12s), want %d (%.12s)", what, want.name, n, h, want.size, want.hash)
	}
}

// checkCopies checks the copies of one draft after the mount died (kill -9, SIGTERM) and was
// mounted again: every acknowledged copy attached once and identical; a failed one absent, or
// (Graph had it before the death) attached at most once and identical until the new mount
// deletes it; a failed synchronous copy that Graph did not have before the remount never
// attached. what describes a copy for the messages. It returns how many copies were acknowledged.
func (g *graphAPI) checkCopies(itemID string, results []copyResult, before, after map[string][]attachment, async bool, what func(copyResult) string) int {
	g.t.Helper()
	acked := 0
	for _, res := range results {
		switch {
		case res.ok:
			acked++
			g.checkAttached(itemID, after, res.src, what(res))
		case len(after[res.src.name]) == 0:
		case !async && len(before[res.src.name]) == 0:
			g.t.Errorf("%s: %s attached after the remount though its synchronous cp failed", what(res), res.src.name)
		default:
			g.checkAttachedOrGone(itemID, after, res.src, what(res))
		}
	}
	return acked
}

// runCp copies src to dst with cp, returning its error and output.
func runCp(src, dst string) (string, error) {
	out, err := exec.Command("cp", src, dst).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// procStat reads the fd count, threads, VmHWM and RssAnon (kB) of a process.
type procStat struct {
	fds, threads     int
	vmHWMkB, rssAnon int
}

func readProcStat(t *testing.T, pid int) procStat {
	t.Helper()
	var s procStat
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(ents)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Threads:":
			s.threads = v
		case "VmHWM:":
			s.vmHWMkB = v
		case "RssAnon:":
			s.rssAnon = v
		}
	}
	return s
}
