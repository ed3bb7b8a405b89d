package spool

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// The crash test's child process: the test binary re-executed with
// SPOOL_CRASH_CHILD set. It spools and uploads the crashFiles, and SIGKILLs
// itself at the point SPOOL_CRASH_AT names (see crashPoint).

// crashFile is one of the files a crash scenario writes, in this order.
type crashFile struct {
	Name string
	Size int
}

var crashFiles = []crashFile{
	{"a-small.txt", 100_000},                // one POST
	{"b-three-chunks.bin", 2*ChunkSize + 5}, // session, three PUTs
	{"c-one-chunk.bin", 3<<20 + 1<<19},      // session, one (final) PUT
	{"d-two-chunks.bin", ChunkSize + 1},     // session, two PUTs
	{"e-replacement.txt", 2000},             // one POST, then deletes e-old.txt
}

const crashOldName = "e-old.txt"

func crashData(f crashFile) []byte { return randBytes(uint64(len(f.Name))*7919+uint64(f.Size), f.Size) }

// crashReport is what the final (recovering) child tells the parent.
type crashReport struct {
	Metas []Meta
	Keys  []string // the spool's keys left once everything finished
}

// RunCrashChildIfAsked runs the crash child and exits when this test binary
// was started as one (TestMain, in main_test.go, calls it first).
func RunCrashChildIfAsked() {
	mode := os.Getenv("SPOOL_CRASH_CHILD")
	if mode == "" {
		return
	}
	if err := crashChild(mode); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// die is the crash: SIGKILL, no deferred code, no flushing.
func die(point string) {
	fmt.Fprintln(os.Stderr, "crash child: SIGKILL at", point)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// crashPoint is where the child dies:
//
//	write:<file>:<off>          once the write reaching offset off returned
//	precommit:<file>            everything written, Commit not called
//	commit:<file>               Commit returned (not yet in the commit log)
//	before|after:<op>:<file>[:<off>]   around an Uploader call: op post, create, put (off), delete
//	before|after:<op>:#<n>      around the n-th call of op list or status
//	mid:put:<file>:<off>        while a PUT's body is being sent
type crashPoint string

func (p crashPoint) is(parts ...string) bool { return string(p) == strings.Join(parts, ":") }

func crashChild(mode string) error {
	env := func(k string) string { return os.Getenv("SPOOL_CRASH_" + k) }
	point := crashPoint(env("AT"))
	workers, _ := strconv.Atoi(env("WORKERS"))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	pem, err := os.ReadFile(env("CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", env("CA"))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client, err := graph.New(graph.Config{
		BaseURL: env("GRAPH"), Tokens: graph.StaticToken(env("TOKEN")), Logger: log,
		HTTPClient: &http.Client{Transport: &killTransport{base: tr, point: point}},
	})
	if err != nil {
		return err
	}
	up := &killUploader{Client: client, point: point, gate: make(chan struct{}), count: map[string]int{}}
	if mode != "work" {
		close(up.gate)
	}
	ctx := context.Background()
	// The emulator has answered every POST it got before a kill; one that was never sent
	// would hold recovery LandingWindow (a minute by default) before being sent again.
	s, err := Open(ctx, Options{Dir: env("DIR"), Uploader: up, Logger: log, Workers: workers, LandingWindow: 2 * time.Second})
	if err != nil {
		return err
	}
	item := graph.ItemRef{Kind: graph.KindMessage, ID: env("ITEM")}

	var ids []string
	if mode == "work" {
		commits, err := os.OpenFile(env("LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		for _, cf := range crashFiles {
			o := CreateOptions{Item: item, Name: cf.Name}
			if strings.HasPrefix(cf.Name, "e-") {
				o.Replaces = env("REPLACES")
			}
			f, err := s.Create(ctx, o)
			if err != nil {
				return err
			}
			data := crashData(cf)
			for off := 0; off < len(data); off += 128 << 10 {
				end := min(len(data), off+128<<10)
				if _, err := f.WriteAt(data[off:end], int64(off)); err != nil {
					return err
				}
				if at, ok := strings.CutPrefix(string(point), "write:"+cf.Name+":"); ok {
					if n, _ := strconv.Atoi(at); end >= n {
						die(string(point)) // the write that reached offset n returned
					}
				}
			}
			if point.is("precommit", cf.Name) {
				die(string(point))
			}
			if err := f.Commit(ctx); err != nil {
				return err
			}
			if point.is("commit", cf.Name) {
				die(string(point))
			}
			if _, err := fmt.Fprintln(commits, cf.Name); err != nil {
				return err
			}
			ids = append(ids, f.ID())
		}
		close(up.gate)
	} else {
		for _, m := range s.All() {
			if !m.Abandoned {
				ids = append(ids, m.ID)
			}
		}
	}
	for _, id := range ids {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		m, err := s.Wait(wctx, id, nil)
		cancel()
		if err != nil {
			return fmt.Errorf("wait %s (%s): %w", id, m.Name, err)
		}
	}
	// Everything finished: wait for the spool to drop the finished files' keys.
	keep := map[string]bool{}
	for _, m := range s.All() {
		if m.Abandoned {
			keep[m.ID] = true
		}
	}
	var keys []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		keys = keys[:0]
		extra := false
		all, err := listKeys(s, []byte(keyRoot))
		if err != nil {
			return err
		}
		for _, k := range all {
			keys = append(keys, k)
			if id, _, ok := splitKey([]byte(k)); !ok || !keep[id] {
				extra = true
			}
		}
		if !extra || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if point != "" {
		return fmt.Errorf("the crash point %q was never reached", point)
	}
	rep := crashReport{Metas: s.All(), Keys: keys}
	if err := s.Close(); err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return os.WriteFile(env("REPORT"), b, 0o600)
}

// killUploader is the child's Uploader: the real client, held back until the
// files are written (so upload points are deterministic), dying at the crash point.
type killUploader struct {
	*graph.Client
	point crashPoint
	gate  chan struct{}
	mu    sync.Mutex
	count map[string]int
}

func (u *killUploader) at(when, op, file string, off int64, withOff bool) {
	var p string
	if withOff {
		p = strings.Join([]string{when, op, file, strconv.FormatInt(off, 10)}, ":")
	} else {
		p = strings.Join([]string{when, op, file}, ":")
	}
	if string(u.point) == p {
		die(p)
	}
}

func (u *killUploader) nth(op string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.count[op]++
	return "#" + strconv.Itoa(u.count[op])
}

func (u *killUploader) wait(ctx context.Context) error {
	select {
	case <-u.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fileBySize(total int64) string {
	for _, f := range crashFiles {
		if int64(f.Size) == total {
			return f.Name
		}
	}
	return "?"
}

func (u *killUploader) AddSmallAttachment(ctx context.Context, item graph.ItemRef, a graph.NewAttachment, data []byte) (graph.Attachment, error) {
	if err := u.wait(ctx); err != nil {
		return graph.Attachment{}, err
	}
	u.at("before", "post", a.Name, 0, false)
	att, err := u.Client.AddSmallAttachment(ctx, item, a, data)
	u.at("after", "post", a.Name, 0, false)
	return att, err
}

func (u *killUploader) CreateUploadSession(ctx context.Context, item graph.ItemRef, a graph.NewAttachment) (graph.UploadSession, error) {
	if err := u.wait(ctx); err != nil {
		return graph.UploadSession{}, err
	}
	u.at("before", "create", a.Name, 0, false)
	s, err := u.Client.CreateUploadSession(ctx, item, a)
	u.at("after", "create", a.Name, 0, false)
	return s, err
}

func (u *killUploader) PutRange(ctx context.Context, s graph.UploadSession, off int64, data []byte, total int64) (graph.PutResult, error) {
	if err := u.wait(ctx); err != nil {
		return graph.PutResult{}, err
	}
	name := fileBySize(total)
	u.at("before", "put", name, off, true)
	res, err := u.Client.PutRange(ctx, s, off, data, total)
	u.at("after", "put", name, off, true)
	return res, err
}

func (u *killUploader) UploadStatus(ctx context.Context, s graph.UploadSession) (graph.PutResult, error) {
	if err := u.wait(ctx); err != nil {
		return graph.PutResult{}, err
	}
	n := u.nth("status")
	u.at("before", "status", n, 0, false)
	res, err := u.Client.UploadStatus(ctx, s)
	u.at("after", "status", n, 0, false)
	return res, err
}

func (u *killUploader) ListAttachments(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, error) {
	if err := u.wait(ctx); err != nil {
		return nil, err
	}
	n := u.nth("list")
	u.at("before", "list", n, 0, false)
	atts, err := u.Client.ListAttachments(ctx, item)
	u.at("after", "list", n, 0, false)
	return atts, err
}

func (u *killUploader) DeleteAttachment(ctx context.Context, item graph.ItemRef, id string) error {
	if err := u.wait(ctx); err != nil {
		return err
	}
	u.at("before", "delete", "e", 0, false)
	err := u.Client.DeleteAttachment(ctx, item, id)
	u.at("after", "delete", "e", 0, false)
	return err
}

// killTransport dies while the body of the PUT named by a mid:put point is being sent.
type killTransport struct {
	base  http.RoundTripper
	point crashPoint
}

func (t *killTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasPrefix(string(t.point), "mid:put:") {
		var start, end, total int64
		if _, err := fmt.Sscanf(req.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &total); err == nil &&
			t.point.is("mid", "put", fileBySize(total), strconv.FormatInt(start, 10)) {
			n := end - start + 1
			req.Body = &killReader{r: req.Body, left: min(1<<20, n/2), point: string(t.point)}
		}
	}
	return t.base.RoundTrip(req)
}

// killReader dies once left bytes were read (sent) from r.
type killReader struct {
	r     io.ReadCloser
	left  int64
	point string
}

func (k *killReader) Read(p []byte) (int, error) {
	if k.left <= 0 {
		die(k.point)
	}
	if int64(len(p)) > k.left {
		p = p[:k.left]
	}
	n, err := k.r.Read(p)
	k.left -= int64(n)
	return n, err
}

func (k *killReader) Close() error { return k.r.Close() }
