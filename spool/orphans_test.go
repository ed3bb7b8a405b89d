package spool

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// flakyFake is a fake Graph whose first POST may land and still fail (a 504 after the server
// stored it, say), and whose listings fail while down is set: the spool then cannot tell
// whether its file was attached.
type flakyFake struct {
	*fakeUploader
	down atomic.Bool
}

func newFlakyFake(applied bool) *flakyFake {
	f := &flakyFake{fakeUploader: newFake(testItem)}
	var posted atomic.Bool
	f.setBefore(func(ctx context.Context, op string, off int64) error {
		if op == "list" && f.down.Load() {
			return graphErr("list attachments", 503, "")
		}
		if op == "post" && !applied && posted.CompareAndSwap(false, true) {
			f.down.Store(true)
			return &graph.NetError{Op: "add attachment", Err: errors.New("connection reset")}
		}
		return nil
	})
	f.setAfter(func(ctx context.Context, op string, off int64) error {
		if op == "post" && applied && posted.CompareAndSwap(false, true) {
			f.down.Store(true)
			return graphErr("add attachment", 504, "")
		}
		return nil
	})
	return f
}

// givenUp writes name and waits until the spool puts its upload off for a retry, as a
// synchronous close sees it before it gives up.
func givenUp(t *testing.T, s *Spool, name string, data []byte) *File {
	t.Helper()
	f := writeFile(t, s, testItem, name, data)
	waitFor(t, time.Minute, "the upload to be put off for a retry", func() bool {
		m, _ := s.Get(f.ID())
		return strings.HasPrefix(m.Reason, "retrying:")
	})
	return f
}

func attachmentsNamed(fk *fakeUploader, name string) [][]byte {
	var out [][]byte
	for _, a := range fk.attachments(testItem) {
		if a.Name == name {
			out = append(out, a.Data)
		}
	}
	return out
}

// TestGivenUpUploadLeavesNoAttachment: a file removed (or renamed) after its creating request
// failed ambiguously, while the item could not be listed, is looked for until the item can be
// listed, and its attachment deleted if the request made it: a close that reported failure
// never leaves the file attached. A file copied again under the same name meanwhile is kept.
func TestGivenUpUploadLeavesNoAttachment(t *testing.T) {
	ctx := context.Background()
	const landing = 3 * time.Second // how long a request may still land (a minute by default)
	old := randBytes(1, 2000)
	again := randBytes(2, 3000)
	for _, tc := range []struct {
		name    string
		applied bool // the failed POST stored the attachment
		act     func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool
		want    map[string][]byte // attachments at the end, by name (nil: none)
		// lands: the failed POST's attachment appears this long after act (0: never), well
		// within window (the landing window of this case; landing when 0)
		lands, window time.Duration
	}{
		{name: "removed, the POST had landed", applied: true,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Remove(ctx, f.ID()))
				return s
			}},
		{name: "removed, the POST had not landed", applied: false,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Remove(ctx, f.ID()))
				return s
			}},
		// The attachment lands after the hunt's first look that finds nothing (about 1 s after
		// the removal) and long before the window ends: the hunt must go on looking.
		{name: "removed, the POST landed late", applied: false,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Remove(ctx, f.ID()))
				return s
			}, lands: 2 * time.Second, window: 10 * time.Second},
		{name: "removed, then copied again under the same name", applied: true,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Remove(ctx, f.ID()))
				writeFile(t, s, testItem, "f.bin", again)
				return s
			}, want: map[string][]byte{"f.bin": again}},
		{name: "renamed (the new name is uploaded, the old one goes)", applied: true,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Rename(ctx, f.ID(), testItem, "g.bin", false))
				return s
			}, want: map[string][]byte{"g.bin": old}},
		{name: "removed, then the spool restarted", applied: true,
			act: func(t *testing.T, s *Spool, fk *flakyFake, f *File) *Spool {
				mustNoErr(t, s.Remove(ctx, f.ID()))
				dir := s.opts.Dir
				mustNoErr(t, s.Close())
				return openT(t, Options{Dir: dir, Uploader: fk, LandingWindow: landing})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFlakyFake(tc.applied)
			window := landing
			if tc.window != 0 {
				window = tc.window
			}
			s := openT(t, Options{Uploader: fk, LandingWindow: window})
			f := givenUp(t, s, "f.bin", old)
			if n := len(attachmentsNamed(fk.fakeUploader, "f.bin")); n != map[bool]int{true: 1, false: 0}[tc.applied] {
				t.Fatalf("%d attachments after the failed POST", n)
			}
			lists := fk.count("list")
			landed := make(chan struct{})
			s = tc.act(t, s, fk, f)
			if tc.lands > 0 {
				go func() {
					time.Sleep(tc.lands)
					fk.mu.Lock()
					fk.attachLocked(testItem, "f.bin", old)
					fk.mu.Unlock()
					close(landed)
				}()
			}
			// the hunt must wait while the item cannot be listed: let one look fail
			waitFor(t, 30*time.Second, "a look at the item while it cannot be listed", func() bool { return fk.count("list") > lists })
			fk.down.Store(false)
			if tc.lands > 0 {
				select {
				case <-landed:
				case <-time.After(time.Minute):
					t.Fatal("the late attachment never landed")
				}
			}
			waitFor(t, 30*time.Second, "the given-up file's attachment to go", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return len(s.orphans) == 0
			})
			waitFor(t, 30*time.Second, "the uploads to settle", func() bool {
				return len(fk.attachments(testItem)) == len(tc.want)
			})
			time.Sleep(200 * time.Millisecond)
			got := fk.attachments(testItem)
			if len(got) != len(tc.want) {
				t.Fatalf("attachments %v, want %d", names(got), len(tc.want))
			}
			for _, a := range got {
				if w, ok := tc.want[a.Name]; !ok || !bytes.Equal(a.Data, w) {
					t.Fatalf("attachment %s (%d bytes) is not the one wanted", a.Name, len(a.Data))
				}
			}
			if tc.name == "removed, the POST had not landed" && fk.count("delete") != 0 {
				t.Fatalf("%d deletes, though nothing was attached", fk.count("delete"))
			}
		})
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOrphanSparesNamesakeAttachedDuringRemove: a new file with the given-up file's name that
// gets attached while Remove turns the old one into an orphan (after the old file left memory,
// before the hunt starts) is ours: the hunt must not delete it.
func TestOrphanSparesNamesakeAttachedDuringRemove(t *testing.T) {
	ctx := context.Background()
	fk := newFlakyFake(false) // the old file's POST fails before landing; listings fail after it
	s := openT(t, Options{Uploader: fk, LandingWindow: 200 * time.Millisecond})
	old := givenUp(t, s, "f.bin", randBytes(1, 2000))
	again := randBytes(2, 3000)
	s.afterDrop = func(string) {
		fk.down.Store(false) // Graph is back: the new file goes through at once
		f := writeFile(t, s, testItem, "f.bin", again)
		if _, err := s.Wait(ctx, f.ID(), nil); err != nil {
			t.Errorf("Wait: %v", err)
		}
	}
	mustNoErr(t, s.Remove(ctx, old.ID()))
	waitFor(t, 30*time.Second, "the orphan to be resolved", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.orphans) == 0
	})
	got := attachmentsNamed(fk.fakeUploader, "f.bin")
	if len(got) != 1 || !bytes.Equal(got[0], again) {
		t.Fatalf("%d attachments named f.bin, want the new file's only (the hunt deleted it)", len(got))
	}
}

// TestOrphanOfRequestCutAtRemove: a file removed while its POST is on the wire has that POST cut
// (CloseGrace after the removal); the server may still finish it. The hunt must look for its
// attachment until LandingWindow after the cut, not after the POST was sent, which may be long
// before: an attachment that lands late must still go.
//
// The POST is on the wire longer than the window before the removal (a hunt counting from the
// sending gives up at its first look after the cut), and its attachment appears half a window
// after the cut: well within the window counted from the cut, whatever the machine's load. The
// test waits for the landing itself, then for the hunt to end.
func TestOrphanOfRequestCutAtRemove(t *testing.T) {
	const (
		window = 4 * time.Second         // Options.LandingWindow
		sent   = 4500 * time.Millisecond // the POST's time on the wire before the removal (at least)
		late   = 2 * time.Second         // its attachment appears this long after the cut
	)
	data := randBytes(3, 2000)
	fk := newFake(testItem)
	started, landed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fk.setBefore(func(ctx context.Context, op string, off int64) error {
		first := false
		if op == "post" {
			once.Do(func() { first = true; close(started) })
		}
		if !first {
			return nil
		}
		<-ctx.Done() // held until the spool cuts it
		go func() {  // the server finishes it all the same
			time.Sleep(late)
			fk.mu.Lock()
			fk.attachLocked(testItem, "f.bin", data)
			fk.mu.Unlock()
			close(landed)
		}()
		return ctx.Err()
	})
	s := openT(t, Options{Uploader: fk, LandingWindow: window})
	f := writeFile(t, s, testItem, "f.bin", data)
	<-started
	time.Sleep(sent) // a lower bound: the longer, the longer ago the POST was sent
	mustNoErr(t, s.Remove(context.Background(), f.ID()))
	select {
	case <-landed:
	case <-time.After(time.Minute):
		t.Fatal("the cut POST's attachment never landed: the POST was not cut")
	}
	waitFor(t, time.Minute, "the orphan to be resolved", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.orphans) == 0
	})
	if got := fk.attachments(testItem); len(got) != 0 {
		t.Fatalf("attachments %v left by a removed file", names(got))
	}
}

// TestOrphanSparesAttachmentAddedLongAfter: an item that cannot be listed for hours (the laptop
// offline) keeps an orphan's hunt going; an attachment with its name added meanwhile in Outlook
// (hours after the given-up request could have landed) is not the orphan's and must stay.
func TestOrphanSparesAttachmentAddedLongAfter(t *testing.T) {
	fk := newFlakyFake(false) // the POST never landed
	s := openT(t, Options{Uploader: fk, LandingWindow: 200 * time.Millisecond})
	f := givenUp(t, s, "f.bin", randBytes(1, 2000))
	mustNoErr(t, s.Remove(context.Background(), f.ID()))
	fk.mu.Lock()
	id := fk.attachLocked(testItem, "f.bin", []byte("attached in Outlook"))
	for i, a := range fk.items[testItem] {
		if a.ID == id {
			fk.items[testItem][i].Modified = time.Now().Add(3 * time.Hour) // as Graph stamps it, hours later
		}
	}
	fk.mu.Unlock()
	fk.down.Store(false)
	waitFor(t, 30*time.Second, "the orphan to be resolved", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.orphans) == 0
	})
	if got := attachmentsNamed(fk.fakeUploader, "f.bin"); len(got) != 1 {
		t.Fatalf("the hunt deleted an attachment added hours after the upload was given up (%d left)", len(got))
	}
}

// TestRemovedDuringItsPOSTWhoseDeleteFails: a file removed while its POST is on the wire, which
// then succeeds: its attachment must go. The delete right after fails once (503); the file's own
// orphan deletes it later (it must not count that attachment as one of ours).
func TestRemovedDuringItsPOSTWhoseDeleteFails(t *testing.T) {
	fk := newFake(testItem)
	data := randBytes(12, 1000)
	started, release := make(chan struct{}), make(chan struct{})
	hold := fk.holdFirst("post", 0, started, release, 50*time.Millisecond, "f.bin", data)
	var failed atomic.Bool
	fk.setBefore(func(ctx context.Context, op string, off int64) error {
		if op == "delete" && failed.CompareAndSwap(false, true) {
			return graphErr("delete attachment", 503, "")
		}
		return hold(ctx, op, off)
	})
	s := openT(t, Options{Uploader: fk, LandingWindow: 2 * time.Second})
	f := writeFile(t, s, testItem, "f.bin", data)
	<-started
	mustNoErr(t, s.Remove(context.Background(), f.ID()))
	close(release) // the POST completes: attached, though its file is gone
	waitFor(t, 30*time.Second, "the removed file's attachment to go", func() bool {
		return failed.Load() && len(fk.attachments(testItem)) == 0
	})
}
