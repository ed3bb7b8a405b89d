package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// crashRun is one child process: "work" writes, commits and uploads the
// crashFiles; "recover" reopens the spool and waits for what it finds. With a
// kill point the child SIGKILLs itself there (see crashPoint).
type crashRun struct{ mode, at string }

type crashScenario struct {
	name    string
	runs    []crashRun // each must die at its point; a clean "recover" run follows
	workers int        // default 1: upload points then come in a fixed order
	expire  bool       // expire every upload session before recovering
	// statusGET: the emulator's answer to the status GET on an upload URL (0: 200), which
	// Outlook does not document; the scenario runs on an emulator of its own.
	statusGET int
	// committed: files whose Commit returned although the commit log may not say so.
	committed []string
}

const (
	fa = "a-small.txt"
	fb = "b-three-chunks.bin"
	fc = "c-one-chunk.bin"
	fd = "d-two-chunks.bin"
)

// With one worker, the uploads go a, b, c, d, e; the n-th list is:
// #1 a before its POST, #2 b before its final PUT, #3 c before its (only, final) PUT,
// #4 d before its final PUT, #5 e before its POST.
var crashScenarios = []crashScenario{
	// While writing.
	{name: "mid-write of a small file", runs: []crashRun{{"work", "write:" + fa + ":65536"}}},
	{name: "mid-write at 1 MiB", runs: []crashRun{{"work", "write:" + fb + ":1048576"}}},
	{name: "mid-write at 5 MiB (past the first upload range)", runs: []crashRun{{"work", "write:" + fb + ":5242880"}}},
	{name: "all written, not committed", runs: []crashRun{{"work", "precommit:" + fb}}},
	{name: "just after a commit", runs: []crashRun{{"work", "commit:" + fa}}, committed: []string{fa}},
	{name: "just after the last commit", runs: []crashRun{{"work", "commit:e-replacement.txt"}},
		committed: []string{"e-replacement.txt"}},
	// Small POST.
	{name: "namesakes listed, final not recorded", runs: []crashRun{{"work", "after:list:#1"}}},
	{name: "before the POST", runs: []crashRun{{"work", "before:post:" + fa}}},
	{name: "POST landed, answer not recorded", runs: []crashRun{{"work", "after:post:" + fa}}},
	// Upload session.
	{name: "session created, not recorded", runs: []crashRun{{"work", "after:create:" + fb}}},
	{name: "before the first PUT", runs: []crashRun{{"work", "before:put:" + fb + ":0"}}},
	{name: "mid first PUT", runs: []crashRun{{"work", "mid:put:" + fb + ":0"}}},
	{name: "first PUT accepted, not recorded", runs: []crashRun{{"work", "after:put:" + fb + ":0"}}},
	{name: "mid second PUT", runs: []crashRun{{"work", "mid:put:" + fb + ":4194304"}}},
	{name: "before listing namesakes for the final PUT", runs: []crashRun{{"work", "before:list:#2"}}},
	{name: "final recorded, before the final PUT", runs: []crashRun{{"work", "before:put:" + fb + ":8388608"}}},
	{name: "mid final PUT", runs: []crashRun{{"work", "mid:put:" + fb + ":8388608"}}},
	{name: "final PUT landed, answer not recorded", runs: []crashRun{{"work", "after:put:" + fb + ":8388608"}}},
	{name: "mid the only PUT of a one-chunk file", runs: []crashRun{{"work", "mid:put:" + fc + ":0"}}},
	{name: "only PUT landed, answer not recorded", runs: []crashRun{{"work", "after:put:" + fc + ":0"}}},
	{name: "last PUT of the last session landed", runs: []crashRun{{"work", "after:put:" + fd + ":4194304"}}},
	// Replacing.
	{name: "attached, old attachment not deleted", runs: []crashRun{{"work", "before:delete:e"}}},
	{name: "old attachment deleted, not recorded", runs: []crashRun{{"work", "after:delete:e"}}},
	// Crashes during recovery, and an expired session.
	{name: "crash again while resuming", runs: []crashRun{{"work", "after:put:" + fb + ":0"}, {"recover", "before:status:#1"}}},
	{name: "crash again while checking for our attachment", runs: []crashRun{
		{"work", "after:put:" + fb + ":8388608"}, {"recover", "after:list:#1"}}},
	{name: "session expired while down", runs: []crashRun{{"work", "mid:put:" + fb + ":4194304"}}, expire: true},
	// The upload host answers no status GET (405) or answers it 404: resuming must go by
	// the PUTs' answers, never attach twice nor fail for good.
	{name: "no status GET (405), first PUT accepted, not recorded", statusGET: 405, runs: []crashRun{{"work", "after:put:" + fb + ":0"}}},
	{name: "no status GET (405), mid second PUT", statusGET: 405, runs: []crashRun{{"work", "mid:put:" + fb + ":4194304"}}},
	{name: "no status GET (405), final recorded, before the final PUT", statusGET: 405, runs: []crashRun{{"work", "before:put:" + fb + ":8388608"}}},
	{name: "no status GET (405), final PUT landed, answer not recorded", statusGET: 405, runs: []crashRun{{"work", "after:put:" + fb + ":8388608"}}},
	{name: "no status GET (405), session expired while down", statusGET: 405, runs: []crashRun{{"work", "mid:put:" + fb + ":4194304"}}, expire: true},
	{name: "status GET 404, first PUT accepted, not recorded", statusGET: 404, runs: []crashRun{{"work", "after:put:" + fb + ":0"}}},
	{name: "status GET 404, final PUT landed, answer not recorded", statusGET: 404, runs: []crashRun{{"work", "after:put:" + fb + ":8388608"}}},
	// Four workers: the other uploads die wherever they are.
	{name: "four workers, mid PUT", workers: 4, runs: []crashRun{{"work", "mid:put:" + fd + ":0"}}},
	{name: "four workers, final PUT landed", workers: 4, runs: []crashRun{{"work", "after:put:" + fb + ":8388608"}}},
}

// TestCrashRecovery kills a child process that spools and uploads at many
// points (SIGKILL), then reopens the spool in new processes and checks the
// emulator, which lives in this process and survives the children: every
// committed file is attached exactly once and byte-identical, no uncommitted
// file is attached, and the spool holds nothing of the finished files.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	shared := startEmu(t, graphtest.Options{})
	for _, sc := range crashScenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := shared
			if sc.statusGET != 0 {
				e = startEmu(t, graphtest.Options{StatusGET: sc.statusGET})
			}
			item := graph.ItemRef{Kind: graph.KindMessage, ID: e.mb.AddDraft(sc.name)}
			old := e.mb.AddFileAttachment(item.ID, crashOldName, "text/plain", []byte("the old version"))
			dir := t.TempDir()
			env := []string{
				"SPOOL_CRASH_DIR=" + filepath.Join(dir, "spool"),
				"SPOOL_CRASH_GRAPH=" + e.srv.GraphURL,
				"SPOOL_CRASH_CA=" + e.srv.CAFile,
				"SPOOL_CRASH_TOKEN=" + e.mb.Token(),
				"SPOOL_CRASH_ITEM=" + item.ID,
				"SPOOL_CRASH_REPLACES=" + old,
				"SPOOL_CRASH_LOG=" + filepath.Join(dir, "commits"),
				"SPOOL_CRASH_REPORT=" + filepath.Join(dir, "report.json"),
				"SPOOL_CRASH_WORKERS=" + strconv.Itoa(max(1, sc.workers)),
			}
			for _, r := range sc.runs {
				runCrashChild(t, env, r)
				if sc.expire {
					e.srv.Emulator.ExpireSessions()
				}
			}
			runCrashChild(t, env, crashRun{mode: "recover"})
			checkCrashOutcome(t, e, item, old, dir, sc)
		})
	}
}

// runCrashChild runs one child; with a kill point it must die of SIGKILL there.
func runCrashChild(t *testing.T, env []string, r crashRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "SPOOL_CRASH_CHILD="+r.mode, "SPOOL_CRASH_AT="+r.at)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if r.at == "" {
		if err != nil {
			t.Fatalf("%s child: %v\n%s", r.mode, err, out.String())
		}
		return
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s child with crash point %s: %v (it should have been killed)\n%s", r.mode, r.at, err, out.String())
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s child with crash point %s: %v, want death by SIGKILL\n%s", r.mode, r.at, err, out.String())
	}
	if !strings.Contains(out.String(), "SIGKILL at "+r.at) {
		t.Fatalf("%s child died, but not at %s:\n%s", r.mode, r.at, out.String())
	}
}

func checkCrashOutcome(t *testing.T, e *emu, item graph.ItemRef, old, dir string, sc crashScenario) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep crashReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	logged, _ := os.ReadFile(filepath.Join(dir, "commits"))
	committed := append(strings.Fields(string(logged)), sc.committed...)
	metas := map[string]Meta{}
	abandoned := map[string]bool{}
	for _, m := range rep.Metas {
		metas[m.Name] = m
		if m.Abandoned {
			abandoned[m.ID] = true
		}
		switch {
		case m.Abandoned && m.State == StateWriting:
		case m.State == StateAttached:
		default:
			t.Errorf("after recovery %s is %s (abandoned %v), want attached or abandoned", m.Name, m.State, m.Abandoned)
		}
	}
	names := map[string]bool{crashOldName: true}
	attachedE := false
	for _, cf := range crashFiles {
		names[cf.Name] = true
		atts := e.attachmentsNamed(item, cf.Name)
		m, known := metas[cf.Name]
		switch {
		case len(atts) > 1:
			t.Errorf("%s attached %d times", cf.Name, len(atts))
		case len(atts) == 1:
			if !bytes.Equal(atts[0].Data, crashData(cf)) {
				t.Errorf("%s attached with different bytes (%d, want %d)", cf.Name, len(atts[0].Data), cf.Size)
			}
			// A file attached and dropped by an earlier process is unknown to the last one.
			if known && (m.State != StateAttached || m.AttachmentID != atts[0].ID) {
				t.Errorf("%s is attached as %s but the spool says %+v", cf.Name, atts[0].ID, m)
			}
			attachedE = attachedE || strings.HasPrefix(cf.Name, "e-")
		default:
			if slices.Contains(committed, cf.Name) {
				t.Errorf("%s was committed but is not attached (spool: %+v)", cf.Name, m)
			}
			if known && !m.Abandoned {
				t.Errorf("%s is not attached, yet the spool does not call it abandoned: %+v", cf.Name, m)
			}
		}
	}
	for _, a := range e.mb.Attachments(item.ID) {
		if !names[a.Name] {
			t.Errorf("unexpected attachment %q", a.Name)
		}
	}
	oldLeft := len(e.attachmentsNamed(item, crashOldName))
	if attachedE && oldLeft != 0 {
		t.Errorf("the replacement is attached but %s (%s) is still there", crashOldName, old)
	}
	if !attachedE && oldLeft != 1 {
		t.Errorf("the replacement is not attached but %s is gone", crashOldName)
	}
	for _, k := range rep.Keys {
		if id, _, ok := splitKey([]byte(k)); !ok || !abandoned[id] {
			t.Errorf("the spool still holds %s, which is not an abandoned file's", k)
		}
	}
}
