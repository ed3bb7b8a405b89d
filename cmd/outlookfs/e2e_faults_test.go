//go:build e2e

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// outcome is what a fault row expects of cp and the mailbox.
type outcome int

const (
	attachedOnce outcome = iota // cp exits 0, the file attached once, identical
	failedAbsent                // cp fails, nothing attached
	consistent                  // either of the two (an applied-then-failed request), never a mix
)

type faultRow struct {
	name string
	size int64
	// faults for a draft whose message path (graph host) is msgPath.
	faults func(msgPath string) []graphtest.Fault
	// during, if set, runs while cp does (with the graph API).
	during func(t *testing.T, g *graphAPI)
	sync   outcome
	async  outcome // -1: not run with --async
}

const (
	smallFault = 100 << 10
	bigFault   = 10 << 20 // three ranged PUTs of 4 MiB
)

func postAttachments(p string) graphtest.Fault {
	return graphtest.Fault{Host: "graph", Method: "POST", Path: p + "/attachments"}
}

func with(f graphtest.Fault, mod func(*graphtest.Fault)) []graphtest.Fault {
	mod(&f)
	return []graphtest.Fault{f}
}

var faultTable = []faultRow{
	{name: "reset on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Cut = true })
	}},
	{name: "reset in the POST's body", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Cut, f.CutAfter = true, 1000 })
	}},
	{name: "500 once on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status = 500 })
	}},
	{name: "503 once with Retry-After", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.RetryAfter = 503, "1" })
	}},
	{name: "504 once on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status = 504 })
	}},
	{name: "429 Retry-After seconds", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.RetryAfter, f.Count = 429, "1", 2 })
	}},
	{name: "429 Retry-After fractional", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.RetryAfter = 429, "0.5" })
	}},
	{name: "429 Retry-After HTTP date", size: smallFault, faults: func(p string) []graphtest.Fault {
		date := time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.RetryAfter = 429, date })
	}},
	{name: "429 without Retry-After", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status = 429 })
	}},
	{name: "expired token once", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.Code = 401, "InvalidAuthenticationToken" })
	}},
	{name: "500 once on createUploadSession", size: bigFault, faults: func(p string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "graph", Method: "POST", Path: p + "/attachments/createUploadSession", Status: 500}}
	}},
	{name: "503 once on a PUT", size: bigFault, faults: func(string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Status: 503, RetryAfter: "1"}}
	}},
	{name: "429 once on a PUT", size: bigFault, faults: func(string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Status: 429, RetryAfter: "1"}}
	}},
	{name: "reset in a PUT's body", size: bigFault, faults: func(string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Cut: true, CutAfter: 1 << 20}}
	}},
	{name: "upload session expired mid-upload", size: bigFault, faults: func(string) []graphtest.Fault {
		// The second PUT is held for 2 s; during holds the session's expiry meanwhile.
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 2, Delay: 2 * time.Second}}
	}, during: func(t *testing.T, g *graphAPI) {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			for _, r := range g.requests() {
				if r.Host == "upload" && r.Method == "PUT" && r.Status/100 == 2 {
					g.expireSessions()
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Error("no PUT within a minute")
	}},
	{name: "applied, then 504 on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.ApplyThenFail, f.Status = true, 504 })
	}, sync: consistent, async: attachedOnce},
	{name: "applied, then cut on the final PUT", size: bigFault, faults: func(string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Nth: 3, ApplyThenFail: true, Cut: true}}
	}, sync: consistent, async: attachedOnce},
	{name: "500 always on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.Count = 500, -1 })
	}, sync: failedAbsent, async: -1},
	{name: "403 always on the POST", size: smallFault, faults: func(p string) []graphtest.Fault {
		return with(postAttachments(p), func(f *graphtest.Fault) { f.Status, f.Count = 403, -1 })
	}, sync: failedAbsent, async: -1},
	{name: "503 always on the PUTs", size: bigFault, faults: func(string) []graphtest.Fault {
		return []graphtest.Fault{{Host: "upload", Method: "PUT", Status: 503, Count: -1}}
	}, sync: failedAbsent, async: -1},
}

func (g *graphAPI) requests() []graphtest.RequestRecord {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(g.info.Graph, "/v1.0")+"/_emulator/requests", nil)
	resp, err := g.c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []graphtest.RequestRecord
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		g.t.Fatal(err)
	}
	return recs
}

// TestE2EFaults copies a file under each fault of the table, in both close modes (one mount each,
// rows one after the other), and checks cp's exit status against the mailbox.
func TestE2EFaults(t *testing.T) {
	for _, async := range []bool{false, true} {
		mode := map[bool]string{false: "sync", true: "async"}[async]
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			info := startEmulatorProcess(t)
			g := newGraphAPI(t, info)
			// A short --sync-retry: the "always" rows fail once the retries are spent, which
			// is 2 minutes without progress by default.
			args := []string{"--landing-window", "5s", "--sync-retry", "15s"}
			if async {
				args = append(args, "--async")
			}
			m := startMount(t, info, t.TempDir(), args...)
			src := t.TempDir()
			for i, row := range faultTable {
				want := row.sync
				if async {
					want = row.async
				}
				if want < 0 {
					continue
				}
				t.Run(row.name, func(t *testing.T) {
					g := &graphAPI{t: t, info: g.info, c: g.c}
					m.t = t
					subject := "Fault " + mode + " " + strings.ReplaceAll(row.name, "'", "")
					if err := os.Mkdir(filepath.Join(m.dir, "drafts", subject), 0o755); err != nil {
						t.Fatal(err)
					}
					id := g.draftID(subject)
					f := makeSource(t, src, "f.bin", row.size, uint64(i))
					g.control("POST", "reset", nil)
					g.inject(row.faults("/me/messages/" + id)...)
					defer g.clearFaults()
					done := make(chan struct{})
					if row.during != nil {
						go func() { defer close(done); row.during(t, g) }()
					} else {
						close(done)
					}
					start := time.Now()
					out, err := runCp(f.path, filepath.Join(m.dir, "drafts", subject, f.name))
					took := time.Since(start)
					<-done
					if async {
						m.waitQuiet(3 * time.Minute)
					}
					t.Logf("cp: %v %s (%v)", err, out, took.Round(10*time.Millisecond))
					switch {
					case want == attachedOnce && err != nil:
						t.Errorf("cp failed: %v %s; want it to exit 0", err, out)
					case want == failedAbsent && err == nil:
						t.Errorf("cp exited 0; want a failure")
					}
					if err == nil {
						g.checkAttached(id, g.attachments(id), f, "cp exited 0")
						return
					}
					// A failed cp: nothing attached, now or once the mount has cleaned up an
					// attachment an applied-then-failed request left.
					deadline := time.Now().Add(time.Minute)
					for n := len(g.attachments(id)["f.bin"]); n != 0; n = len(g.attachments(id)["f.bin"]) {
						if time.Now().After(deadline) {
							t.Errorf("cp failed (%s), yet f.bin is attached %d times a minute later", out, n)
							break
						}
						time.Sleep(200 * time.Millisecond)
					}
				})
			}
			m.t = t
			m.term(time.Minute)
		})
	}
}

// TestE2ESlowLink copies over a 2 MB/s link with 30 ms of latency, in both close modes.
func TestE2ESlowLink(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "async"}[async], func(t *testing.T) {
			t.Parallel()
			info := startEmulatorProcess(t, "--bandwidth", "2000000", "--latency", "30ms")
			g := newGraphAPI(t, info)
			args := []string{"--landing-window", "10s"}
			if async {
				args = append(args, "--async")
			}
			m := startMount(t, info, t.TempDir(), args...)
			draft := filepath.Join(m.dir, "drafts", "Slow")
			if err := os.Mkdir(draft, 0o755); err != nil {
				t.Fatal(err)
			}
			src := t.TempDir()
			files := []srcFile{makeSource(t, src, "small.bin", 200<<10, 1), makeSource(t, src, "big.bin", 6<<20, 2)}
			for _, f := range files {
				if out, err := runCp(f.path, filepath.Join(draft, f.name)); err != nil {
					t.Fatalf("cp %s: %v %s", f.name, err, out)
				}
			}
			m.waitQuiet(3 * time.Minute)
			id := g.draftID("Slow")
			atts := g.attachments(id)
			for _, f := range files {
				g.checkAttached(id, atts, f, "slow link")
			}
			m.term(time.Minute)
		})
	}
}
