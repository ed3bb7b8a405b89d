package spool

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/outlookfs/outlookfs/graph"
)

// storedKeys lists the spool's keys under prefix.
func storedKeys(t testing.TB, s *Spool, prefix []byte) []string {
	t.Helper()
	keys, err := listKeys(s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// filePrefix is the prefix of every key of file id.
func filePrefix(id string) []byte { return []byte(keyRoot + id + "/") }

// forgotten tells whether the spool holds nothing of file id any more: no key, no data file.
func forgotten(t testing.TB, s *Spool, id string) bool {
	t.Helper()
	return len(storedKeys(t, s, filePrefix(id))) == 0 && !hasData(s, id)
}

// hasData tells whether file id has a data file.
func hasData(s *Spool, id string) bool {
	_, err := os.Stat(s.dataPath(id))
	return err == nil
}

func listKeys(s *Spool, prefix []byte) ([]string, error) {
	var keys []string
	err := s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = prefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().KeyCopy(nil)))
		}
		return nil
	})
	return keys, err
}

// waitDone waits (bounded) for a file to be attached or failed.
func waitDone(t testing.TB, s *Spool, id string) (Meta, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := s.Wait(ctx, id, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(%s): %v (state %s)", id, err, m.State)
	}
	return m, err
}

// mustAttach waits for a file to be attached and checks the attachment's bytes.
func mustAttach(t testing.TB, s *Spool, fk *fakeUploader, id string, item graph.ItemRef, name string, data []byte) Meta {
	t.Helper()
	m, err := waitDone(t, s, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v", name, err)
	}
	if m.State != StateAttached || m.AttachmentID == "" || m.Confirmed != int64(len(data)) {
		t.Fatalf("after Wait: %+v", m)
	}
	var found []fakeAtt
	for _, a := range fk.attachments(item) {
		if a.Name == name {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d attachments named %q, want exactly 1", len(found), name)
	}
	if found[0].ID != m.AttachmentID || !bytes.Equal(found[0].Data, data) {
		t.Fatalf("attachment %s (%d bytes) differs from the file (%s, %d bytes)", found[0].ID, len(found[0].Data), m.AttachmentID, len(data))
	}
	return m
}

func TestUploadSmallAndLarge(t *testing.T) {
	fk := newFake(testItem)
	s := openT(t, Options{Uploader: fk})
	for _, tc := range []struct {
		name    string
		size    int
		post    bool
		wantPut []int64
	}{
		{"empty.txt", 0, true, nil},
		{"small.txt", 1000, true, nil},
		{"just-under-3MiB.bin", graph.MinUploadSessionSize - 1, true, nil},
		{"exactly-3MiB.bin", graph.MinUploadSessionSize, false, []int64{0}},
		{"two-chunks-and-a-bit.bin", 2*ChunkSize + 5, false, []int64{0, ChunkSize, 2 * ChunkSize}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			posts, puts := fk.count("post"), len(fk.putLog())
			data := randBytes(uint64(tc.size)+1, tc.size)
			f := writeFile(t, s, testItem, tc.name, data)
			var mu sync.Mutex
			var seen []int64
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m, err := s.Wait(ctx, f.ID(), func(confirmed, total int64) {
				mu.Lock()
				defer mu.Unlock()
				if total != int64(tc.size) {
					t.Errorf("progress total %d, want %d", total, tc.size)
				}
				seen = append(seen, confirmed)
			})
			if err != nil || m.State != StateAttached {
				t.Fatalf("Wait = %+v, %v", m, err)
			}
			mustAttach(t, s, fk, f.ID(), testItem, tc.name, data)
			if got := fk.count("post") - posts; (got == 1) != tc.post {
				t.Fatalf("%d POSTs, want post=%v", got, tc.post)
			}
			var offs []int64
			for _, p := range fk.putLog()[puts:] {
				offs = append(offs, p.Off)
			}
			if !slicesEqual(offs, tc.wantPut) {
				t.Fatalf("PUT offsets %v, want %v", offs, tc.wantPut)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(seen); i++ {
				if seen[i] < seen[i-1] {
					t.Fatalf("progress went backwards: %v", seen)
				}
			}
			if len(seen) == 0 || seen[len(seen)-1] != int64(tc.size) {
				t.Fatalf("progress %v does not end at %d", seen, tc.size)
			}
			if _, err := s.ReadAt(f.ID(), make([]byte, 1), 0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadAt of an attached file: %v, want ErrNotFound", err)
			}
			if got := s.List(testItem); len(got) != 0 {
				t.Fatalf("List after attach = %+v", got)
			}
			if got, ok := s.Get(f.ID()); !ok || got.State != StateAttached {
				t.Fatalf("Get after attach = %+v %v (attached files stay visible for a while)", got, ok)
			}
			waitFor(t, time.Minute, "the file's record and data to be dropped", func() bool {
				return forgotten(t, s, f.ID())
			})
		})
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStateTransitions(t *testing.T) {
	fk := newFake(testItem)
	gate := make(chan struct{})
	hook, _ := gateAt("put", ChunkSize, gate)
	fk.setBefore(hook)
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: "states.bin"})
	if err != nil {
		t.Fatal(err)
	}
	state := func() State { m, _ := s.Get(f.ID()); return m.State }
	if st := state(); st != StateWriting {
		t.Fatalf("after Create: %s", st)
	}
	data := randBytes(9, 2*ChunkSize)
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// committed -> uploading (held at the second PUT), with the first chunk confirmed.
	waitFor(t, time.Minute, "uploading with one chunk confirmed", func() bool {
		m, _ := s.Get(f.ID())
		return m.State == StateUploading && m.Confirmed == ChunkSize
	})
	s.mu.Lock()
	sess := s.files[f.ID()].rec.Session
	s.mu.Unlock()
	if sess == nil || sess.URL == "" || sess.Expires.IsZero() {
		t.Fatalf("uploading without a recorded session: %+v", sess)
	}
	close(gate)
	mustAttach(t, s, fk, f.ID(), testItem, "states.bin", data)

	// failed: the item is gone.
	gone := graph.ItemRef{Kind: graph.KindEvent, ID: "deleted-event"}
	g := writeFile(t, s, gone, "orphan.txt", []byte("x"))
	m, err := waitDone(t, s, g.ID())
	var ue *UploadError
	if !errors.As(err, &ue) || ue.Kind != FailNotFound || m.State != StateFailed || m.FailKind != FailNotFound {
		t.Fatalf("upload to a deleted item: %+v, %v", m, err)
	}
	if !strings.Contains(m.Reason, "no longer exists") || ue.Err == nil || !graph.IsNotFound(ue.Err) {
		t.Fatalf("reason %q, cause %v", m.Reason, ue.Err)
	}
	if got := s.List(gone); len(got) != 1 || got[0].State != StateFailed {
		t.Fatalf("List shows failed files: %+v", got)
	}
	waitFor(t, time.Minute, "a failed file's data to be deleted", func() bool {
		return !hasData(s, g.ID())
	})
	if keys := storedKeys(t, s, filePrefix(g.ID())); len(keys) != 1 {
		t.Fatalf("a failed file keeps its record only; keys %v", keys)
	}
}

func TestPermanentFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		setup  func(fk *fakeUploader)
		kind   FailKind
		reason string
	}{
		{"message size exceeded mid-upload", 3 * ChunkSize, func(fk *fakeUploader) { fk.messageLimit = 2*ChunkSize + 1 },
			FailTooLarge, "message size limit"},
		{"small POST over the limit", 2000, func(fk *fakeUploader) { fk.messageLimit = 1000 }, FailTooLarge, "message size limit"},
		{"request over Graph's request limit", 3<<20 - 1, func(fk *fakeUploader) {
			fk.before = func(_ context.Context, op string, _ int64) error {
				if op == "post" {
					return graphErr("add attachment", 413, "RequestEntityTooLarge")
				}
				return nil
			}
		}, FailTooLarge, "request size limit"},
		{"mailbox full on the POST", 10, func(fk *fakeUploader) {
			fk.before = func(_ context.Context, op string, _ int64) error {
				if op == "post" {
					return graphErr("add attachment", 403, graph.CodeQuotaExceeded)
				}
				return nil
			}
		}, FailQuota, "mailbox is full"},
		{"mailbox full mid-upload, as a 507", 3 * ChunkSize, func(fk *fakeUploader) {
			fk.before = func(_ context.Context, op string, off int64) error {
				if op == "put" && off > 0 {
					return graphErr("upload range", 507, graph.CodeQuotaExceeded)
				}
				return nil
			}
		}, FailQuota, "mailbox is full"},
		{"delegated mailbox refuses sessions", graph.MinUploadSessionSize, func(fk *fakeUploader) {
			fk.before = func(_ context.Context, op string, _ int64) error {
				if op == "create" {
					return graphErr("create upload session", 403, graph.CodeAccessDenied)
				}
				return nil
			}
		}, FailForbidden, "shared or another person's mailbox"},
		{"bad request", 10, func(fk *fakeUploader) {
			fk.before = func(_ context.Context, op string, _ int64) error {
				if op == "post" {
					return graphErr("add attachment", 400, "ErrorInvalidRequest")
				}
				return nil
			}
		}, FailOther, "refused the attachment (400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFake(testItem)
			tc.setup(fk)
			s := openT(t, Options{Uploader: fk})
			f := writeFile(t, s, testItem, "f.bin", randBytes(1, tc.size))
			m, err := waitDone(t, s, f.ID())
			var ue *UploadError
			if !errors.As(err, &ue) || ue.Kind != tc.kind || m.FailKind != tc.kind || m.State != StateFailed {
				t.Fatalf("got %+v, %v; want failed %s", m, err, tc.kind)
			}
			if !strings.Contains(ue.Reason, tc.reason) {
				t.Fatalf("reason %q does not mention %q", ue.Reason, tc.reason)
			}
			if len(fk.attachments(testItem)) != 0 {
				t.Fatal("a failed upload left an attachment")
			}
		})
	}
}

func TestTransientFailureIsRetried(t *testing.T) {
	fk := newFake(testItem)
	var mu sync.Mutex
	failures := 0
	fk.setBefore(func(_ context.Context, op string, off int64) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "put" && off == ChunkSize && failures < 1 {
			failures++
			return &graph.NetError{Op: "upload range", Method: "PUT", Path: "/session", Err: errors.New("connection reset")}
		}
		return nil
	})
	s := openT(t, Options{Uploader: fk})
	data := randBytes(3, 2*ChunkSize+1)
	f := writeFile(t, s, testItem, "retry.bin", data)
	waitFor(t, time.Minute, "the problem to be recorded", func() bool {
		m, _ := s.Get(f.ID())
		return strings.HasPrefix(m.Reason, "retrying:") || m.State == StateAttached
	})
	mustAttach(t, s, fk, f.ID(), testItem, "retry.bin", data)
	// The retry resumed the same session from the confirmed offset.
	puts := fk.putLog() // the failed attempt never reached the fake's log
	if len(puts) != 3 || puts[0].URL != puts[2].URL || puts[1].Off != ChunkSize || puts[2].Off != 2*ChunkSize ||
		fk.count("put") != 4 || fk.count("create") != 1 {
		t.Fatalf("PUTs %+v (%d attempts, %d sessions): want 0, 4M (failed, then again), 8M on one session",
			puts, fk.count("put"), fk.count("create"))
	}
}

// A throttled upload is not tried again before the server's Retry-After, which for
// Outlook's request-rate limit is longer than the spool's own first backoff (1-2 s).
func TestRetryAfterIsHonoured(t *testing.T) {
	fk := newFake(testItem)
	const after = 3 * time.Second
	var mu sync.Mutex
	var attempts []time.Time
	fk.setBefore(func(_ context.Context, op string, _ int64) error {
		if op != "post" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if len(attempts) == 1 {
			return &graph.Error{Op: "add attachment", Status: 429, Code: "ApplicationThrottled", RetryAfter: after}
		}
		return nil
	})
	s := openT(t, Options{Uploader: fk})
	data := []byte("throttled")
	f := writeFile(t, s, testItem, "t.txt", data)
	mustAttach(t, s, fk, f.ID(), testItem, "t.txt", data)
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 2 {
		t.Fatalf("%d POSTs, want 2", len(attempts))
	}
	if gap := attempts[1].Sub(attempts[0]); gap < after {
		t.Fatalf("tried again after %v, before the server's Retry-After of %v", gap, after)
	}
}

func TestSessionLostMidUpload(t *testing.T) {
	fk := newFake(testItem)
	var once sync.Once
	fk.setBefore(func(_ context.Context, op string, off int64) error {
		if op == "put" && off == 2*ChunkSize {
			once.Do(fk.expireAll)
		}
		return nil
	})
	s := openT(t, Options{Uploader: fk})
	data := randBytes(4, 3*ChunkSize+10)
	f := writeFile(t, s, testItem, "expired.bin", data)
	mustAttach(t, s, fk, f.ID(), testItem, "expired.bin", data)
	if n := fk.count("create"); n != 2 {
		t.Fatalf("%d sessions created, want 2 (a new one after the loss)", n)
	}
}

func TestAmbiguousFinalRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		op   string
		off  int64
	}{
		{"final PUT answer lost", 2*ChunkSize + 3, "put", 2 * ChunkSize},
		{"POST answer lost", 5000, "post", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFake(testItem)
			// An older attachment with the same name must not be mistaken for ours.
			fk.items[testItem] = []fakeAtt{{ID: "old", Name: "amb.bin", Data: []byte("old")}}
			var once sync.Once
			fk.setAfter(func(_ context.Context, op string, off int64) error {
				var err error
				if op == tc.op && off == tc.off {
					once.Do(func() { err = graph.ErrUploadOutcomeUnknown })
				}
				return err
			})
			s := openT(t, Options{Uploader: fk})
			data := randBytes(5, tc.size)
			f, err := s.Create(context.Background(), CreateOptions{Item: testItem, Name: "amb.bin", Replaces: "old"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustAttach(t, s, fk, f.ID(), testItem, "amb.bin", data) // exactly one, and "old" was replaced
			if fk.count("post")+fk.count("create") != 1 {
				t.Fatalf("uploaded again after an ambiguous answer: %d POSTs, %d sessions", fk.count("post"), fk.count("create"))
			}
		})
	}
}

func TestReplaceDeletesOld(t *testing.T) {
	fk := newFake(testItem)
	fk.items[testItem] = []fakeAtt{{ID: "v1", Name: "doc.txt", Data: []byte("version 1")}}
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	for _, tc := range []struct{ name, replaces string }{
		{"doc.txt", "v1"},                // the usual case: same name
		{"other.txt", "already-deleted"}, // the old one is gone: a 404 on the delete is fine
	} {
		f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: tc.name, Replaces: tc.replaces})
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("replacing " + tc.replaces)
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		mustAttach(t, s, fk, f.ID(), testItem, tc.name, data)
		waitFor(t, time.Minute, "the old attachment to be deleted", func() bool {
			for _, a := range fk.attachments(testItem) {
				if a.ID == tc.replaces {
					return false
				}
			}
			return true
		})
	}
	if n := len(fk.attachments(testItem)); n != 2 {
		t.Fatalf("%d attachments, want 2", n)
	}
}

func TestScratchRenameCommitsAndQueues(t *testing.T) {
	fk := newFake(testItem)
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".report.pdf.XXXXXX", Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(8, 100_000)
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if m, _ := s.Get(f.ID()); m.State != StateCommitted || fk.count("post") != 0 {
		t.Fatalf("a scratch file was queued: %+v, %d POSTs", m, fk.count("post"))
	}
	if err := s.Rename(ctx, f.ID(), testItem, "report.pdf", false); err != nil {
		t.Fatal(err)
	}
	mustAttach(t, s, fk, f.ID(), testItem, "report.pdf", data)
	if err := s.Rename(ctx, f.ID(), testItem, "other.pdf", false); !errors.Is(err, ErrCommitted) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rename of an attached file: %v, want ErrCommitted", err)
	}

	// GIO: the scratch file is renamed over the target while still open; its close uploads it.
	g, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".goutputstream-1", Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(data[:10], 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, g.ID(), testItem, "saved.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := g.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustAttach(t, s, fk, g.ID(), testItem, "saved.txt", data[:10])
}

func TestRenameDuringUpload(t *testing.T) {
	fk := newFake(testItem)
	gate := make(chan struct{})
	hook, reached := gateAt("put", ChunkSize, gate)
	fk.setBefore(hook)
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	data := randBytes(6, 2*ChunkSize+1)
	f := writeFile(t, s, testItem, "first-name.bin", data)
	<-reached
	if err := s.Rename(ctx, f.ID(), testItem, "second-name.bin", false); err != nil {
		t.Fatal(err)
	}
	close(gate)
	mustAttach(t, s, fk, f.ID(), testItem, "second-name.bin", data)
	for _, a := range fk.attachments(testItem) {
		if a.Name == "first-name.bin" {
			t.Fatal("attached under the old name")
		}
	}
	waitFor(t, time.Minute, "the old session to be cancelled", func() bool { return fk.cancelledSessions() == 1 })
}

func TestRemoveDuringUpload(t *testing.T) {
	fk := newFake(testItem)
	reached := make(chan struct{})
	var once sync.Once
	fk.setBefore(func(ctx context.Context, op string, off int64) error {
		if op == "put" && off == ChunkSize {
			once.Do(func() { close(reached) })
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	f := writeFile(t, s, testItem, "unlinked.bin", randBytes(6, 2*ChunkSize+1))
	<-reached
	if err := s.Remove(ctx, f.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(ctx, f.ID(), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait on a removed file: %v", err)
	}
	waitFor(t, time.Minute, "the session to be cancelled", func() bool { return fk.cancelledSessions() == 1 })
	waitFor(t, time.Minute, "the record and data to be dropped", func() bool {
		return forgotten(t, s, f.ID())
	})
	if len(fk.attachments(testItem)) != 0 {
		t.Fatal("a removed file got attached")
	}
}

func TestWaitIsCancellable(t *testing.T) {
	s := openT(t, Options{}) // no uploader: nothing is ever uploaded
	f := writeFile(t, s, testItem, "waits.txt", []byte("x"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx, f.ID(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's error", err)
	}
	if _, err := s.Wait(context.Background(), "unknown", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait on an unknown id = %v", err)
	}
}

func TestWorkersRunInParallel(t *testing.T) {
	fk := newFake(testItem)
	var mu sync.Mutex
	inFlight, most := 0, 0
	second := make(chan struct{})
	var once sync.Once
	fk.setBefore(func(_ context.Context, op string, _ int64) error {
		if op != "put" {
			return nil
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 2 {
			once.Do(func() { close(second) })
		}
		mu.Unlock()
		// Hold the PUT until another one is in flight, so the workers' parallelism shows.
		select {
		case <-second:
		case <-time.After(10 * time.Second):
		}
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil
	})
	s := openT(t, Options{Uploader: fk, Workers: 3})
	var files []*File
	var datas [][]byte
	for i := range 6 {
		d := randBytes(uint64(100+i), graph.MinUploadSessionSize+i)
		datas = append(datas, d)
		files = append(files, writeFile(t, s, testItem, string(rune('a'+i))+".bin", d))
	}
	for i, f := range files {
		mustAttach(t, s, fk, f.ID(), testItem, string(rune('a'+i))+".bin", datas[i])
	}
	if most < 2 || most > 3 {
		t.Fatalf("at most %d PUTs at once, want 2..3 with 3 workers", most)
	}
}

func TestRenameToScratchTakesItOutOfTheQueue(t *testing.T) {
	fk := newFake(testItem)
	hook, reached := blockAt("list", 0)
	fk.setBefore(hook)
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	f := writeFile(t, s, testItem, "notes.txt", []byte("notes"))
	<-reached // the upload started: it lists the item's attachments first
	if err := s.Rename(ctx, f.ID(), testItem, "notes.txt~", true); err != nil {
		t.Fatal(err)
	}
	fk.setBefore(nil)
	time.Sleep(50 * time.Millisecond)
	if m, _ := s.Get(f.ID()); m.State != StateCommitted || !m.Scratch || fk.count("post") != 0 {
		t.Fatalf("after renaming to a scratch name: %+v, %d POSTs", m, fk.count("post"))
	}
	if err := s.Rename(ctx, f.ID(), testItem, "notes.txt", false); err != nil {
		t.Fatal(err)
	}
	mustAttach(t, s, fk, f.ID(), testItem, "notes.txt", []byte("notes"))
}

// A scratch file renamed over an attachment (rsync's temp file + rename) replaces it: SetReplaces
// before the rename, and the old attachment is deleted once the new one is attached. Once a file
// is attached, SetReplaces is refused.
func TestSetReplacesThenRename(t *testing.T) {
	fk := newFake(testItem)
	fk.items[testItem] = []fakeAtt{{ID: "v1", Name: "doc.txt", Data: []byte("version 1")}}
	s := openT(t, Options{Uploader: fk})
	ctx := context.Background()
	f, err := s.Create(ctx, CreateOptions{Item: testItem, Name: ".doc.txt.XyZ123", Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("version 2")
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReplaces(f.ID(), "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, f.ID(), testItem, "doc.txt", false); err != nil {
		t.Fatal(err)
	}
	mustAttach(t, s, fk, f.ID(), testItem, "doc.txt", data)
	waitFor(t, time.Minute, "the replaced attachment to be deleted", func() bool {
		return len(fk.attachments(testItem)) == 1
	})
	if err := s.SetReplaces(f.ID(), "v9"); !errors.Is(err, ErrCommitted) && !errors.Is(err, ErrNotFound) {
		t.Errorf("SetReplaces on an attached file: %v, want ErrCommitted", err)
	}
}

// A file removed or renamed while the request that creates its attachment (the POST, the
// final PUT) is on the wire: the request is not cut - cut, the server may still finish it and
// leave an attachment nobody knows of - and the attachment it made is deleted, on the item
// it was made on. A renamed file is then attached under its new name.
func TestRemoveOrRenameDuringCreatingRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		op     string
		off    int64
		rename bool
	}{
		{"remove during the POST", 1000, "post", 0, false},
		{"remove during the final PUT", ChunkSize + 10, "put", ChunkSize, false},
		{"rename during the POST", 1000, "post", 0, true},
		{"rename during the final PUT", ChunkSize + 10, "put", ChunkSize, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFake(testItem)
			data := randBytes(11, tc.size)
			started, release := make(chan struct{}), make(chan struct{})
			fk.setBefore(fk.holdFirst(tc.op, tc.off, started, release, 50*time.Millisecond, "orphan", data))
			s := openT(t, Options{Uploader: fk})
			ctx := context.Background()
			f := writeFile(t, s, testItem, "f.bin", data)
			<-started
			var err error
			if tc.rename {
				err = s.Rename(ctx, f.ID(), testItem, "renamed.bin", false)
			} else {
				err = s.Remove(ctx, f.ID())
			}
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // a cut request's late attachment would land now
			close(release)
			want := 0
			if tc.rename {
				mustAttach(t, s, fk, f.ID(), testItem, "renamed.bin", data)
				want = 1
			}
			waitFor(t, time.Minute, "the attachment made under the old name to be deleted", func() bool {
				return len(fk.attachments(testItem)) == want
			})
			time.Sleep(200 * time.Millisecond)
			if atts := fk.attachments(testItem); len(atts) != want || (want == 1 && atts[0].Name != "renamed.bin") {
				t.Fatalf("attachments %v, want %d (renamed.bin when renamed)", names(atts), want)
			}
		})
	}
}

func names(atts []fakeAtt) []string {
	var out []string
	for _, a := range atts {
		out = append(out, a.Name)
	}
	return out
}

// TestSlowAmbiguousPOSTLandsLate: a POST answered 504 after a long while may still be at work on
// the server: its attachment can appear after the answer. The spool must look for it until
// LandingWindow after that answer (not after the POST was sent) before sending the file again,
// or the file is attached twice.
//
// The attachment appears when the spool lists the item for the third time after the 504 (the
// first look is right after the answer, the second when the retry starts waiting for a
// landing): a spool that counted the window from the sending finds nothing at its second look,
// lists the item once more to send the file again, and attaches it twice. No timing decides
// where the attachment appears; the window is long enough for the retry's backoff (1-2 s) and
// one more look (1 s) on a loaded machine, and the POST is held longer than the window.
func TestSlowAmbiguousPOSTLandsLate(t *testing.T) {
	const (
		window = 6 * time.Second         // Options.LandingWindow
		slow   = 6500 * time.Millisecond // the POST's time on the wire, then a 504
	)
	data := randBytes(7, 4000)
	fk := newFake(testItem)
	var once sync.Once
	var answered atomic.Bool
	var listsAfter atomic.Int32
	fk.setBefore(func(ctx context.Context, op string, off int64) error {
		if op == "list" && answered.Load() && listsAfter.Add(1) == 3 {
			fk.mu.Lock()
			fk.attachLocked(testItem, "f.bin", data)
			fk.mu.Unlock()
			return nil
		}
		if op != "post" {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		select {
		case <-time.After(slow):
		case <-ctx.Done():
			return ctx.Err()
		}
		answered.Store(true)
		return graphErr("add attachment", http.StatusGatewayTimeout, "")
	})
	s := openT(t, Options{Uploader: fk, LandingWindow: window})
	f := writeFile(t, s, testItem, "f.bin", data)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Wait(ctx, f.ID(), nil); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if n := listsAfter.Load(); n < 3 {
		t.Fatalf("attached after %d looks following the 504: the late attachment never appeared", n)
	}
	if got := fk.attachments(testItem); len(got) != 1 || fk.count("post") != 1 {
		t.Fatalf("%d attachments after one file, %d POSTs: %v", len(got), fk.count("post"), names(got))
	}
}
