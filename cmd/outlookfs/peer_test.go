//go:build peer

package main

// The peer suites, the gocryptfs way: pjdfstest, fsx and fsstress (other people's tools, built
// elsewhere; see docs/peer-suites.md) against a mount of the built binary on the emulator, run
// as separate processes. `make test-posix` runs these tests (`-tags peer`), `make soak` runs them
// longer. pjdfstest's outcome is compared case by case with docs/pjdfstest-expected.txt; fsx and
// fsstress end by comparing what the mount shows with what Graph holds.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	peerPjdfstest = flag.String("peer.pjdfstest", "", "pjdfstest's build directory (holds the pjdfstest program and tests/)")
	peerSubsets   = flag.String("peer.subsets", "open unlink rename chmod chown truncate ftruncate utimensat mkdir link symlink posix_fallocate", "pjdfstest subsets (directories under tests/) to run")
	peerExpected  = flag.String("peer.expected", "../../docs/pjdfstest-expected.txt", "the table of expected pjdfstest failures")
	peerUpdate    = flag.Bool("peer.update", false, "rewrite the table of expected failures from this run (review the diff)")
	peerSoak      = flag.Bool("peer.soak", false, "also run the pjdfstest files the table lists under [soak]")
	peerLog       = flag.String("peer.log", "", "where to keep prove's output (none if empty)")
	peerTimeout   = flag.Duration("peer.timeout", 10*time.Minute, "time allowed to each suite")

	peerFsx     = flag.String("peer.fsx", "", "the fsx program (xfstests' ltp/fsx, writing FILE.fsxgood at exit)")
	peerFsxRuns = flag.Int("peer.fsx-runs", 4, "fsx runs, each on its own file with its own seed and flags")
	peerFsxOps  = flag.Int("peer.fsx-ops", 1000, "operations per fsx run")

	peerFsstress      = flag.String("peer.fsstress", "", "the fsstress program (xfstests' ltp/fsstress)")
	peerFsstressProcs = flag.Int("peer.fsstress-procs", 4, "fsstress processes, one draft each")
	peerFsstressOps   = flag.Int("peer.fsstress-ops", 300, "fsstress operations per process")
)

// peerMount starts `outlookfs emulator` and `outlookfs mount` as processes. On cleanup the
// mount is asked to stop (SIGTERM unmounts) and given 30 s; mountProcess's own cleanup then
// detaches the mount lazily and kills the process if it is still there.
func peerMount(t *testing.T) (emulatorInfo, string) {
	t.Helper()
	info := startEmulatorProcess(t)
	dir, cmd, _, done := mountProcess(t, info)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("outlookfs mount did not exit within 30 s of SIGTERM")
		}
	})
	return info, dir
}

// mailbox reads drafts and their attachments straight from the emulator's Graph API.
type mailbox struct {
	t    *testing.T
	info emulatorInfo
	c    *http.Client
}

func newMailbox(t *testing.T, info emulatorInfo) *mailbox {
	return &mailbox{t: t, info: info, c: clientFor(t, info.CA)}
}

// pages follows @odata.nextLink from u and returns every item of every page.
func (m *mailbox) pages(u string) []map[string]any {
	var all []map[string]any
	for u != "" {
		var page struct {
			Value []map[string]any `json:"value"`
			Next  string           `json:"@odata.nextLink"`
		}
		getJSON(m.t, m.c, m.info.Token, u, &page)
		all = append(all, page.Value...)
		u = page.Next
	}
	return all
}

// draft returns the id of the one draft with this subject.
func (m *mailbox) draft(subject string) string {
	m.t.Helper()
	var ids []string
	for _, d := range m.pages(m.info.Graph + "/me/mailFolders/drafts/messages?$select=id,subject") {
		if d["subject"] == subject {
			ids = append(ids, d["id"].(string))
		}
	}
	if len(ids) != 1 {
		m.t.Fatalf("%d drafts with subject %q in the mailbox", len(ids), subject)
	}
	return ids[0]
}

// files returns a draft's attachments by name with the bytes of their $value.
func (m *mailbox) files(subject string) map[string][]byte {
	m.t.Helper()
	base := m.info.Graph + "/me/messages/" + url.PathEscape(m.draft(subject)) + "/attachments"
	out := map[string][]byte{}
	for _, a := range m.pages(base + "?$select=id,name") {
		name := a["name"].(string)
		if _, dup := out[name]; dup {
			m.t.Errorf("draft %q has two attachments named %q", subject, name)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/"+url.PathEscape(a["id"].(string))+"/$value", nil)
		req.Header.Set("Authorization", "Bearer "+m.info.Token)
		resp, err := m.c.Do(req)
		if err != nil {
			m.t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			m.t.Fatalf("$value of %q in %q: %d %v", name, subject, resp.StatusCode, err)
		}
		out[name] = b
	}
	return out
}

// mountFiles returns the regular files of a directory of the mount with their bytes.
func mountFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("read %s through the mount: %v", e.Name(), err)
			continue
		}
		out[e.Name()] = b
	}
	return out
}

// sameFiles reports every difference between the mount's view of a draft and Graph's.
func sameFiles(t *testing.T, draft string, mnt, graph map[string][]byte) {
	t.Helper()
	for name, b := range mnt {
		g, ok := graph[name]
		switch {
		case !ok:
			t.Errorf("%s/%s: in the mount (%d bytes), not attached in Graph", draft, name, len(b))
		case !bytes.Equal(b, g):
			t.Errorf("%s/%s: the mount has %d bytes, Graph %d, first difference at %d", draft, name, len(b), len(g), firstDiff(b, g))
		}
	}
	for name, g := range graph {
		if _, ok := mnt[name]; !ok {
			t.Errorf("%s/%s: attached in Graph (%d bytes), not in the mount", draft, name, len(g))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// runTool runs a peer program with the suite's timeout and returns its stdout and stderr.
func runTool(t *testing.T, dir string, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), *peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", filepath.Base(name), *peerTimeout, ctx.Err())
	}
	return o.Bytes(), e.Bytes(), err
}

func needTool(t *testing.T, path, flagName string) string {
	t.Helper()
	if path == "" {
		t.Fatalf("-%s is not set (make test-posix sets it; see docs/peer-suites.md)", flagName)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("-%s: %v (docs/peer-suites.md says how to build it)", flagName, err)
	}
	return abs
}

// TestPeerFsx runs fsx on files of one draft; after each run the file's bytes through the
// mount, in Graph ($value) and in fsx's model (FILE.fsxgood) must be the same.
func TestPeerFsx(t *testing.T) {
	fsx := needTool(t, *peerFsx, "peer.fsx")
	info, dir := peerMount(t)
	mb := newMailbox(t, info)
	draft := filepath.Join(dir, "drafts", "fsx")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	// Flags per run, cycled (docs/peer-suites.md says why): -c closes and reopens the file now
	// and then (each close uploads a version, each reopen reads it back); the third run grows
	// the file past 3 MiB (upload sessions); the fourth does without mmap and syncs each write.
	variants := [][]string{
		{"-c", "20"},
		{"-c", "8", "-s", "1"},
		{"-c", "100", "-l", strconv.Itoa(5 << 20), "-o", strconv.Itoa(1 << 20)},
		{"-c", "30", "-R", "-W", "-y"},
	}
	logDir := t.TempDir()
	ops := 0
	for i := range *peerFsxRuns {
		name := fmt.Sprintf("run%d.bin", i)
		v := variants[i%len(variants)]
		args := append([]string{"-q", "-N", strconv.Itoa(*peerFsxOps), "-S", strconv.Itoa(i + 1), "-P", logDir}, v...)
		args = append(args, filepath.Join(draft, name))
		out, errOut, err := runTool(t, logDir, fsx, args...)
		if err != nil {
			t.Fatalf("fsx %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		ops += *peerFsxOps
		good, err := os.ReadFile(filepath.Join(logDir, name+".fsxgood"))
		if err != nil {
			t.Fatalf("fsx left no model: %v", err)
		}
		mnt := mountFiles(t, draft)
		if !bytes.Equal(mnt[name], good) {
			t.Errorf("%s: the mount has %d bytes, fsx's model %d, first difference at %d", name, len(mnt[name]), len(good), firstDiff(mnt[name], good))
		}
		sameFiles(t, "fsx", mnt, mb.files("fsx"))
		t.Logf("fsx run %d (%s): %d operations, %d bytes, same in the mount, the model and Graph", i, strings.Join(v, " "), *peerFsxOps, len(good))
	}
	t.Logf("fsx: %d runs, %d operations", *peerFsxRuns, ops)
}

// TestPeerFsstress runs fsstress with one process per draft (-d MOUNT/drafts makes p0, p1...
// there), then compares every one of those drafts with Graph.
func TestPeerFsstress(t *testing.T) {
	fsstress := needTool(t, *peerFsstress, "peer.fsstress")
	info, dir := peerMount(t)
	mb := newMailbox(t, info)
	drafts := filepath.Join(dir, "drafts")
	args := []string{"-d", drafts, "-p", strconv.Itoa(*peerFsstressProcs), "-n", strconv.Itoa(*peerFsstressOps), "-s", "1"}
	out, errOut, err := runTool(t, t.TempDir(), fsstress, args...)
	if err != nil {
		t.Fatalf("fsstress %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	files := 0
	for p := range *peerFsstressProcs {
		name := fmt.Sprintf("p%d", p)
		mnt := mountFiles(t, filepath.Join(drafts, name))
		sameFiles(t, name, mnt, mb.files(name))
		files += len(mnt)
	}
	t.Logf("fsstress: %d processes x %d operations; %d files in %d drafts, same in the mount and Graph", *peerFsstressProcs, *peerFsstressOps, files, *peerFsstressProcs)
}

// TestPeerPjdfstest runs pjdfstest's chosen subsets with prove from inside a draft and compares
// every case's outcome with docs/pjdfstest-expected.txt.
func TestPeerPjdfstest(t *testing.T) {
	root := needTool(t, *peerPjdfstest, "peer.pjdfstest")
	if _, err := exec.LookPath("prove"); err != nil {
		t.Fatal("prove not found (Debian package perl)")
	}
	table, err := readExpected(*peerExpected)
	if err != nil {
		t.Fatal(err)
	}
	var files []string // like "open/00.t"
	for _, sub := range strings.Fields(*peerSubsets) {
		m, _ := filepath.Glob(filepath.Join(root, "tests", sub, "*.t"))
		if len(m) == 0 {
			t.Fatalf("no tests in %s/tests/%s", root, sub)
		}
		for _, f := range m {
			rel := sub + "/" + filepath.Base(f)
			if _, skip := table.skip[rel]; skip {
				continue
			}
			if _, soak := table.soak[rel]; soak && !*peerSoak {
				continue
			}
			files = append(files, rel)
		}
	}
	info, dir := peerMount(t)
	mb := newMailbox(t, info)
	draft := filepath.Join(dir, "drafts", "pjdfstest")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v"}
	for _, f := range files {
		args = append(args, filepath.Join(root, "tests", f))
	}
	start := time.Now()
	out, _, err := runTool(t, draft, "prove", args...)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) { // prove exits 1 when a case fails: that is compared below
		t.Fatalf("prove: %v\n%s", err, out)
	}
	if *peerLog != "" {
		if err := os.WriteFile(*peerLog, out, 0o644); err != nil {
			t.Error(err)
		}
	}
	results := parseProve(t, out, files)
	elapsed := time.Since(start)

	run, passed, expected := 0, 0, 0
	var newFail, nowPass []string
	for _, f := range files {
		r := results[f]
		for c := 1; c <= r.plan; c++ {
			run++
			msg, failed := r.failed[c]
			g := table.groupOf(f, c)
			switch {
			case failed && g != nil:
				expected++
			case failed:
				newFail = append(newFail, fmt.Sprintf("%s %d%s", f, c, msg))
			case g != nil && g.either():
				passed++
			case g != nil:
				passed++
				nowPass = append(nowPass, fmt.Sprintf("%s %d (listed under [group %s])", f, c, g.name))
			default:
				passed++
			}
		}
	}
	t.Logf("pjdfstest: %d files, %d cases run, %d passed, %d expected failures, %d new failures, %d expected failures now passing (%v)", len(files), run, passed, expected, len(newFail), len(nowPass), elapsed.Round(time.Second))
	for _, g := range table.groups {
		n := 0
		for f, cs := range g.cases {
			if slices.Contains(files, f) {
				for _, c := range cs {
					if _, failed := results[f].failed[c]; failed {
						n++
					}
				}
			}
		}
		t.Logf("  expected failures [group %s]: %d", g.name, n)
	}
	if *peerUpdate {
		if err := table.update(*peerExpected, files, results); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s: review it with git diff (cases in [group unexplained] need a reason)", *peerExpected)
	} else {
		for _, s := range newFail {
			t.Errorf("new failure: %s", s)
		}
		for _, s := range nowPass {
			t.Errorf("expected to fail, passed: %s (if that is a fix, run make test-posix UPDATE=1 and review the table)", s)
		}
	}
	// Whatever pjdfstest left behind is the same in the mount and in Graph, but for the files
	// the table's [leftovers] counts: listed in the mount, not attached.
	mnt, gr := mountFiles(t, draft), mb.files("pjdfstest")
	var left []string
	for name := range mnt {
		if _, ok := gr[name]; !ok {
			left = append(left, name)
			delete(mnt, name)
		}
	}
	sameFiles(t, "pjdfstest", mnt, gr)
	t.Logf("pjdfstest left %d files listed in the mount and not attached (the table expects %d): %q", len(left), table.leftovers, left)
	if *peerUpdate {
		table.leftovers = len(left)
		if err := table.update(*peerExpected, nil, nil); err != nil {
			t.Fatal(err)
		}
	} else if len(left) != table.leftovers {
		t.Errorf("pjdfstest left %d files in the mount that Graph does not have, the table's [leftovers] expects %d", len(left), table.leftovers)
	}
}

// fileResult is the outcome of one pjdfstest file: its plan and its failed cases with their
// messages (a case never reported counts as failed).
type fileResult struct {
	plan   int
	failed map[int]string
}

var (
	// A file's header ends the line; a case printed without a newline may come before it.
	proveHeader = regexp.MustCompile(`(/\S+/tests/([^/\s]+/[^/\s]+\.t)) \.+\s*$`)
	tapPlan     = regexp.MustCompile(`^1\.\.(\d+)`)
	tapCase     = regexp.MustCompile(`^(not )?ok (\d+)(.*)$`)
)

func parseProve(t *testing.T, out []byte, files []string) map[string]*fileResult {
	t.Helper()
	res := map[string]*fileResult{}
	seen := map[string]map[int]bool{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := proveHeader.FindStringSubmatchIndex(line); m != nil {
			if cur != "" {
				recordTAP(res[cur], seen[cur], line[:m[0]])
			}
			cur = line[m[4]:m[5]]
			res[cur] = &fileResult{failed: map[int]string{}}
			seen[cur] = map[int]bool{}
			continue
		}
		if cur == "" {
			continue
		}
		recordTAP(res[cur], seen[cur], line)
	}
	for _, f := range files {
		r := res[f]
		if r == nil {
			t.Errorf("prove printed nothing for %s", f)
			res[f] = &fileResult{failed: map[int]string{}}
			continue
		}
		for c := 1; c <= r.plan; c++ {
			if !seen[f][c] {
				r.failed[c] = " - never reported (the file stopped early)"
			}
		}
	}
	return res
}

// recordTAP notes a plan or a case line of the file r.
func recordTAP(r *fileResult, seen map[int]bool, line string) {
	if m := tapPlan.FindStringSubmatch(line); m != nil {
		r.plan, _ = strconv.Atoi(m[1])
	} else if m := tapCase.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[2])
		seen[n] = true
		if m[1] != "" {
			r.failed[n] = m[3]
		}
	}
}

// The table of expected failures (docs/pjdfstest-expected.txt):
//
//	[skip]            files never run; why: says why
//	[soak]            files run by make soak only
//	[group NAME]      expected failures with one reason: why:, semantics: and defect: lines,
//	                  then "FILE CASES" lines (CASES: 1-5,7) each optionally followed by # example;
//	                  a group with the line "outcome: either" lists cases whose outcome depends on
//	                  timing the test does not control (they may pass or fail)
type expectedTable struct {
	header           []string // comment lines at the top, kept as they are
	skip             map[string]bool
	soak             map[string]bool
	skipWhy, soakWhy []string
	leftoverWhy      []string
	leftovers        int
	groups           []*failGroup
}

type failGroup struct {
	name  string
	meta  []string // why:, semantics:, defect: and outcome: lines
	cases map[string][]int
	notes map[string]string
}

// either: the group's cases may pass or fail ("outcome: either").
func (g *failGroup) either() bool { return slices.Contains(g.meta, "outcome: either") }

func (tb *expectedTable) groupOf(file string, c int) *failGroup {
	for _, g := range tb.groups {
		if slices.Contains(g.cases[file], c) {
			return g
		}
	}
	return nil
}

func (tb *expectedTable) group(name string) *failGroup {
	for _, g := range tb.groups {
		if g.name == name {
			return g
		}
	}
	g := &failGroup{name: name, cases: map[string][]int{}, notes: map[string]string{}}
	if r, ok := groupRules[name]; ok {
		g.meta = r.meta
	} else {
		g.meta = []string{"why: TODO: explain these failures, or fix the filesystem"}
	}
	tb.groups = append(tb.groups, g)
	return g
}

func readExpected(path string) (*expectedTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the table of expected failures: %w", err)
	}
	tb := &expectedTable{skip: map[string]bool{}, soak: map[string]bool{}}
	section := ""
	var g *failGroup
	for i, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case section == "" && (trim == "" || strings.HasPrefix(trim, "#")):
			tb.header = append(tb.header, line)
		case trim == "" || strings.HasPrefix(trim, "#"):
		case trim == "[skip]", trim == "[soak]", trim == "[leftovers]":
			section, g = trim, nil
		case strings.HasPrefix(trim, "[group ") && strings.HasSuffix(trim, "]"):
			section = "group"
			g = &failGroup{name: strings.TrimSuffix(strings.TrimPrefix(trim, "[group "), "]"), cases: map[string][]int{}, notes: map[string]string{}}
			tb.groups = append(tb.groups, g)
		case strings.HasPrefix(trim, "why:") || strings.HasPrefix(trim, "semantics:") || strings.HasPrefix(trim, "defect:") || strings.HasPrefix(trim, "outcome:"):
			switch section {
			case "[skip]":
				tb.skipWhy = append(tb.skipWhy, trim)
			case "[soak]":
				tb.soakWhy = append(tb.soakWhy, trim)
			case "[leftovers]":
				tb.leftoverWhy = append(tb.leftoverWhy, trim)
			case "group":
				g.meta = append(g.meta, trim)
			}
		default:
			f := strings.Fields(strings.SplitN(trim, "#", 2)[0])
			switch {
			case section == "[leftovers]" && len(f) == 2 && f[0] == "count:":
				if tb.leftovers, err = strconv.Atoi(f[1]); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
				}
			case section == "[skip]" && len(f) == 1:
				tb.skip[f[0]] = true
			case section == "[soak]" && len(f) == 1:
				tb.soak[f[0]] = true
			case section == "group" && len(f) == 2:
				cs, err := parseCases(f[1])
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
				}
				g.cases[f[0]] = append(g.cases[f[0]], cs...)
				if _, note, ok := strings.Cut(trim, "#"); ok {
					g.notes[f[0]] = strings.TrimSpace(note)
				}
			default:
				return nil, fmt.Errorf("%s:%d: cannot read %q", path, i+1, line)
			}
		}
	}
	for _, g := range tb.groups {
		for f, cs := range g.cases {
			for _, c := range cs {
				if h := tb.groupOf(f, c); h != g {
					return nil, fmt.Errorf("%s: %s case %d is in [group %s] and [group %s]", path, f, c, h.name, g.name)
				}
			}
		}
	}
	return tb, nil
}

func parseCases(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("case %q: %w", part, err)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

func formatCases(cs []int) string {
	sort.Ints(cs)
	var parts []string
	for i := 0; i < len(cs); {
		j := i
		for j+1 < len(cs) && cs[j+1] == cs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(cs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cs[i], cs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// update rewrites the table from this run: for the files run, a failed case keeps its group if
// it had one, else goes to the first rule of groupRules that matches it (or [group
// unexplained]); a case that passed leaves the table. Files not run keep their entries.
func (tb *expectedTable) update(path string, files []string, results map[string]*fileResult) error {
	for _, f := range files {
		r := results[f]
		old := map[int]*failGroup{}
		for _, g := range tb.groups {
			if g.either() {
				continue // may pass or fail: kept as it is
			}
			for _, c := range g.cases[f] {
				old[c] = g
			}
			delete(g.cases, f)
			delete(g.notes, f)
		}
		fails := slices.Sorted(func(yield func(int) bool) {
			for c := range r.failed {
				if !yield(c) {
					return
				}
			}
		})
		for _, c := range fails {
			if g := tb.groupOf(f, c); g != nil && g.either() {
				continue
			}
			g := old[c]
			if g == nil {
				g = tb.group(classify(f, r.failed[c], tb, r))
			}
			g.cases[f] = append(g.cases[f], c)
			if _, ok := g.notes[f]; !ok {
				g.notes[f] = "e.g. " + strings.TrimSpace(strings.TrimPrefix(normalizeMsg(r.failed[c]), " - "))
			}
		}
	}
	var b strings.Builder
	for _, l := range tb.header {
		b.WriteString(l + "\n")
	}
	writeFiles := func(name string, why []string, set map[string]bool) {
		fmt.Fprintf(&b, "[%s]\n", name)
		for _, w := range why {
			b.WriteString(w + "\n")
		}
		for _, f := range slices.Sorted(func(yield func(string) bool) {
			for f := range set {
				if !yield(f) {
					return
				}
			}
		}) {
			b.WriteString(f + "\n")
		}
		b.WriteString("\n")
	}
	writeFiles("skip", tb.skipWhy, tb.skip)
	b.WriteString("[leftovers]\n")
	for _, w := range tb.leftoverWhy {
		b.WriteString(w + "\n")
	}
	fmt.Fprintf(&b, "count: %d\n\n", tb.leftovers)
	writeFiles("soak", tb.soakWhy, tb.soak)
	for _, g := range tb.groups {
		if len(g.cases) == 0 {
			continue
		}
		fmt.Fprintf(&b, "[group %s]\n", g.name)
		for _, m := range g.meta {
			b.WriteString(m + "\n")
		}
		for _, f := range slices.Sorted(func(yield func(string) bool) {
			for f := range g.cases {
				if !yield(f) {
					return
				}
			}
		}) {
			line := f + " " + formatCases(g.cases[f])
			if n := g.notes[f]; n != "" {
				line += "  # " + n
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644)
}

var randomName = regexp.MustCompile(`pjdfstest_[0-9a-f]+`)

func normalizeMsg(s string) string { return randomName.ReplaceAllString(s, "N") }

// groupRule places a new failure in a group when the table is rewritten (a human reviews it).
type groupRule struct {
	meta  []string
	match func(file, msg string, tb *expectedTable, r *fileResult) bool
}

// tried splits a pjdfstest failure message into the command, the expected and the actual answer.
var tried = regexp.MustCompile(`tried '(.*)', expected (\S*), got (\S*)`)

func classify(file, msg string, tb *expectedTable, r *fileResult) string {
	for _, name := range groupOrder {
		if groupRules[name].match(file, msg, tb, r) {
			return name
		}
	}
	return "unexplained"
}

var groupOrder = []string{"name-max", "no-subdirs-links-special", "private-mount", "follows"}

var groupRules = map[string]groupRule{
	// Files whose cases are built from pathconf(_PC_NAME_MAX).
	"name-max": {
		meta: []string{
			"why: statfs below the mount's root answers zeros, so pathconf(_PC_NAME_MAX) in a draft is 0 and the name-length cases make empty or 1-byte names (issue 18, defect 1)",
			"semantics: Names (\"cut to 255 bytes\"): NAME_MAX is 255; this is a bug, not a semantics row",
			"defect: 1",
		},
		match: func(file, _ string, _ *expectedTable, _ *fileResult) bool { return usesNameMax(file) },
	},
	"no-subdirs-links-special": {
		meta: []string{
			"why: a draft holds files only: mkdir in it, link, symlink, mknod, mkfifo and bind (a socket is a mknod) are EPERM",
			"semantics: Directories: `mkdir` | an item directory | `EPERM`; Files: `link`, `symlink`, `mknod` | `EPERM`",
		},
		match: func(_, msg string, _ *expectedTable, _ *fileResult) bool { return isNoSubdirs(msg) },
	},
	"private-mount": {
		meta: []string{
			"why: the mount is private to the user who mounted it (FUSE without allow_other): the kernel answers EACCES to every other uid, so the cases run as 65534/65533 fail",
			"semantics: Who may use the mount (only the user who mounted it)",
		},
		match: func(_, msg string, _ *expectedTable, _ *fileResult) bool { return isOtherUser(msg) },
	},
	"follows": {
		meta: []string{
			"why: the case works on a directory, link, special file or another user's file that an earlier case of the same file could not make (see the two groups above), so it finds nothing (ENOENT) or the wrong object, or it checks the result of that earlier case",
			"semantics: as the groups no-subdirs-links-special and private-mount",
		},
		match: func(_, msg string, tb *expectedTable, r *fileResult) bool {
			// Only in files where such an earlier failure exists.
			earlier := false
			for _, m := range r.failed {
				if classifyRoot(m) {
					earlier = true
				}
			}
			if !earlier {
				return false
			}
			m := tried.FindStringSubmatch(msg)
			return m == nil || m[3] == "ENOENT" || m[3] == "EPERM" || m[3] == "EACCES" || strings.Contains(m[1], "/")
		},
	},
}

func classifyRoot(msg string) bool { return isNoSubdirs(msg) || isOtherUser(msg) }

// isNoSubdirs: a directory, link or special file could not be made (EPERM).
func isNoSubdirs(msg string) bool {
	m := tried.FindStringSubmatch(msg)
	if m == nil || m[3] != "EPERM" {
		return false
	}
	return slices.Contains([]string{"mkdir", "link", "symlink", "mknod", "mkfifo", "bind"}, commandVerb(m[1]))
}

// isOtherUser: a case run as another uid was refused by the kernel (EACCES).
func isOtherUser(msg string) bool {
	m := tried.FindStringSubmatch(msg)
	return m != nil && strings.HasPrefix(m[1], "-u ") && m[3] == "EACCES"
}

// commandVerb is the pjdfstest command of "-u 65534 -g 65534 mkdir N 0755" (mkdir).
func commandVerb(cmd string) string {
	f := strings.Fields(cmd)
	for i := 0; i < len(f); i++ {
		if f[i] == "-u" || f[i] == "-g" || f[i] == "-U" {
			i++
			continue
		}
		return f[i]
	}
	return ""
}

var nameMaxFiles = map[string]bool{}

func usesNameMax(file string) bool {
	v, ok := nameMaxFiles[file]
	if !ok {
		b, _ := os.ReadFile(filepath.Join(*peerPjdfstest, "tests", file))
		v = bytes.Contains(b, []byte("namegen_max"))
		nameMaxFiles[file] = v
	}
	return v
}
