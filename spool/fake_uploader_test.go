package spool

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// fakeUploader is an in-memory Uploader for unit tests: items with
// attachments, upload sessions, and hooks to inject failures.
type fakeUploader struct {
	mu       sync.Mutex
	items    map[graph.ItemRef][]fakeAtt
	sessions map[string]*fakeSession
	seq      int
	calls    map[string]int
	puts     []fakePut // every PutRange that reached the fake

	// before runs before an operation is carried out; a non-nil error is
	// returned instead (the operation did not happen).
	before func(ctx context.Context, op string, off int64) error
	// after runs once an operation was carried out; a non-nil error is
	// returned instead of its answer (a lost answer).
	after func(ctx context.Context, op string, off int64) error
	// messageLimit: a PUT or POST taking an attachment past it fails with ErrorMessageSizeExceeded.
	messageLimit int64
	// sessionTTL: sessions expire this long after creation (0: never).
	sessionTTL time.Duration
	// discardData: keep only the attachments' lengths, not their bytes (big uploads).
	discardData bool
}

type fakeAtt struct {
	ID, Name string
	Data     []byte
	Modified time.Time // listed as its LastModified (zero: not listed)
}

type fakeSession struct {
	url       string
	item      graph.ItemRef
	a         graph.NewAttachment
	data      []byte
	received  int64
	created   time.Time
	done      bool
	cancelled bool
}

type fakePut struct {
	URL      string
	Off, Len int64
}

func newFake(items ...graph.ItemRef) *fakeUploader {
	f := &fakeUploader{
		items:    map[graph.ItemRef][]fakeAtt{},
		sessions: map[string]*fakeSession{},
		calls:    map[string]int{},
	}
	for _, it := range items {
		f.items[it] = nil
	}
	return f
}

var _ Uploader = (*fakeUploader)(nil)

func graphErr(op string, status int, code string) error {
	return &graph.Error{Op: op, Status: status, Code: code, Message: http.StatusText(status)}
}

func sessionGone(op string) error {
	return fmt.Errorf("%w: %w", graph.ErrUploadSessionGone, graphErr(op, 404, graph.CodeUploadNotFound))
}

// enter counts the call and runs the before hook. Callers do not hold f.mu.
func (f *fakeUploader) enter(ctx context.Context, op string, off int64) error {
	f.mu.Lock()
	f.calls[op]++
	hook := f.before
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if hook != nil {
		return hook(ctx, op, off)
	}
	return nil
}

func (f *fakeUploader) leave(ctx context.Context, op string, off int64) error {
	f.mu.Lock()
	hook := f.after
	f.mu.Unlock()
	if hook != nil {
		return hook(ctx, op, off)
	}
	return nil
}

func (f *fakeUploader) ListAttachments(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, error) {
	if err := f.enter(ctx, "list", 0); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	atts, ok := f.items[item]
	if !ok {
		return nil, graphErr("list attachments", 404, graph.CodeItemNotFound)
	}
	var out []graph.Attachment
	for _, a := range atts {
		out = append(out, graph.Attachment{ID: a.ID, Name: a.Name, Kind: graph.FileAttachment, Size: int64(len(a.Data)) + 150, LastModified: a.Modified})
	}
	return out, nil
}

func (f *fakeUploader) DeleteAttachment(ctx context.Context, item graph.ItemRef, id string) error {
	if err := f.enter(ctx, "delete", 0); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	atts, ok := f.items[item]
	if !ok {
		return graphErr("delete attachment", 404, graph.CodeItemNotFound)
	}
	i := slices.IndexFunc(atts, func(a fakeAtt) bool { return a.ID == id })
	if i < 0 {
		return graphErr("delete attachment", 404, graph.CodeItemNotFound)
	}
	f.items[item] = slices.Delete(atts, i, i+1)
	return nil
}

// attachLocked adds an attachment. Callers hold f.mu.
func (f *fakeUploader) attachLocked(item graph.ItemRef, name string, data []byte) string {
	f.seq++
	id := fmt.Sprintf("att-%d", f.seq)
	f.items[item] = append(f.items[item], fakeAtt{ID: id, Name: name, Data: slices.Clone(data), Modified: time.Now()})
	return id
}

func (f *fakeUploader) AddSmallAttachment(ctx context.Context, item graph.ItemRef, a graph.NewAttachment, data []byte) (graph.Attachment, error) {
	if err := f.enter(ctx, "post", 0); err != nil {
		return graph.Attachment{}, err
	}
	f.mu.Lock()
	if _, ok := f.items[item]; !ok {
		f.mu.Unlock()
		return graph.Attachment{}, graphErr("add attachment", 404, graph.CodeItemNotFound)
	}
	if f.messageLimit > 0 && int64(len(data)) > f.messageLimit {
		f.mu.Unlock()
		return graph.Attachment{}, graphErr("add attachment", 400, graph.CodeMessageSizeExceeded)
	}
	id := f.attachLocked(item, a.Name, data)
	f.mu.Unlock()
	if err := f.leave(ctx, "post", 0); err != nil {
		return graph.Attachment{}, err
	}
	return graph.Attachment{ID: id, Name: a.Name, Kind: graph.FileAttachment}, nil
}

func (f *fakeUploader) CreateUploadSession(ctx context.Context, item graph.ItemRef, a graph.NewAttachment) (graph.UploadSession, error) {
	if err := f.enter(ctx, "create", 0); err != nil {
		return graph.UploadSession{}, err
	}
	if a.Size > graph.MaxAttachmentSize {
		return graph.UploadSession{}, graph.ErrTooLarge
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[item]; !ok {
		return graph.UploadSession{}, graphErr("create upload session", 404, graph.CodeItemNotFound)
	}
	f.seq++
	s := &fakeSession{url: fmt.Sprintf("https://upload.test/session/%d?authtoken=secret", f.seq), item: item, a: a, created: time.Now()}
	f.sessions[s.url] = s
	return graph.UploadSession{URL: s.url, Expires: f.expiresLocked(s)}, nil
}

func (f *fakeUploader) expiresLocked(s *fakeSession) time.Time {
	if f.sessionTTL == 0 {
		return s.created.Add(24 * time.Hour)
	}
	return s.created.Add(f.sessionTTL)
}

// liveLocked returns the session if it can still take bytes.
func (f *fakeUploader) liveLocked(url string) (*fakeSession, bool) {
	s, ok := f.sessions[url]
	if !ok || s.done || s.cancelled || (f.sessionTTL > 0 && time.Since(s.created) > f.sessionTTL) {
		return nil, false
	}
	return s, true
}

func (f *fakeUploader) PutRange(ctx context.Context, us graph.UploadSession, off int64, data []byte, total int64) (graph.PutResult, error) {
	if err := f.enter(ctx, "put", off); err != nil {
		return graph.PutResult{}, err
	}
	f.mu.Lock()
	f.puts = append(f.puts, fakePut{URL: us.URL, Off: off, Len: int64(len(data))})
	s, ok := f.liveLocked(us.URL)
	if !ok {
		f.mu.Unlock()
		return graph.PutResult{}, sessionGone("upload range")
	}
	if len(data) > graph.MaxRangeSize || total != s.a.Size {
		f.mu.Unlock()
		return graph.PutResult{}, graphErr("upload range", 400, graph.CodeInvalidRequest)
	}
	if off != s.received {
		f.mu.Unlock()
		return graph.PutResult{}, graphErr("upload range", 416, graph.CodeInvalidRange)
	}
	if f.messageLimit > 0 && off+int64(len(data)) > f.messageLimit {
		f.mu.Unlock()
		return graph.PutResult{}, graphErr("upload range", 400, graph.CodeMessageSizeExceeded)
	}
	if !f.discardData {
		s.data = append(s.data, data...)
	}
	s.received += int64(len(data))
	res := graph.PutResult{Next: s.received, Expires: f.expiresLocked(s)}
	if s.received == total {
		s.done = true
		res = graph.PutResult{Done: true, Next: total, AttachmentID: f.attachLocked(s.item, s.a.Name, s.data)}
	}
	f.mu.Unlock()
	if err := f.leave(ctx, "put", off); err != nil {
		return graph.PutResult{}, err
	}
	return res, nil
}

func (f *fakeUploader) UploadStatus(ctx context.Context, us graph.UploadSession) (graph.PutResult, error) {
	if err := f.enter(ctx, "status", 0); err != nil {
		return graph.PutResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.liveLocked(us.URL)
	if !ok {
		return graph.PutResult{}, sessionGone("upload status")
	}
	return graph.PutResult{Next: s.received, Expires: f.expiresLocked(s)}, nil
}

func (f *fakeUploader) CancelUpload(ctx context.Context, us graph.UploadSession) error {
	if err := f.enter(ctx, "cancel", 0); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sessions[us.URL]; ok {
		s.cancelled = true
	}
	return nil
}

// Inspection helpers.

func (f *fakeUploader) attachments(item graph.ItemRef) []fakeAtt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items[item])
}

func (f *fakeUploader) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeUploader) putLog() []fakePut {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

func (f *fakeUploader) setBefore(h func(ctx context.Context, op string, off int64) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before = h
}

func (f *fakeUploader) setAfter(h func(ctx context.Context, op string, off int64) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after = h
}

func (f *fakeUploader) cancelledSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sessions {
		if s.cancelled {
			n++
		}
	}
	return n
}

func (f *fakeUploader) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		s.cancelled = true
	}
}

// holdFirst returns a before-hook that holds the first request op at off on the wire: it
// closes started, then completes the request once release is closed. Cut by the client
// first, the request is finished by the server all the same: attachment name (data) appears
// late afterwards, as a real service may do.
func (f *fakeUploader) holdFirst(op string, off int64, started chan<- struct{}, release <-chan struct{}, late time.Duration, name string, data []byte) func(context.Context, string, int64) error {
	var once sync.Once
	return func(ctx context.Context, o string, at int64) error {
		if o != op || at != off {
			return nil
		}
		first := false
		once.Do(func() { first = true; close(started) })
		if !first {
			return nil
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			go func() {
				time.Sleep(late)
				f.mu.Lock()
				f.attachLocked(testItem, name, data)
				f.mu.Unlock()
			}()
			return ctx.Err()
		}
	}
}

// gateAt returns a hook that holds every request op at off until gate is closed (then lets
// it go on) or its context ends (then fails it), and a channel closed when the first one
// arrived. A nil gate never opens.
func gateAt(op string, off int64, gate <-chan struct{}) (func(ctx context.Context, op string, off int64) error, chan struct{}) {
	reached := make(chan struct{})
	var once sync.Once
	hook := func(ctx context.Context, o string, at int64) error {
		if o != op || at != off {
			return nil
		}
		once.Do(func() { close(reached) })
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return hook, reached
}

// blockAt returns a hook that blocks every request op at off until its context ends, and a
// channel closed when the first one arrived.
func blockAt(op string, off int64) (func(ctx context.Context, op string, off int64) error, chan struct{}) {
	return gateAt(op, off, nil)
}
