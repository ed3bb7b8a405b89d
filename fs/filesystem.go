package fs

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// FS is the state shared by every node of one mount.
type FS struct {
	opts Options
	log  *slog.Logger

	drafts listing[graph.Draft]
	delta  draftsDelta // used by fetchDrafts only
	events listing[graph.Event]

	mu    sync.Mutex
	items map[string]*listing[graph.Attachment] // by item id
	// names derived from the listings
	draftMemo, eventMemo memo[itemEntry]
	itemMemos            map[string]*memo[fileEntry] // by item id + "/" for inline
	exts                 map[string]string           // attached items' extensions, by attachment id
	// forgotten: attachments deleted here, never shown again as recent uploads (see withRecentUploads)
	forgotten map[string]bool
	fills     fills // who fills the content cache with what (see stream.go)
	// recent failures, newest last, for .outlookfs/failures
	failures []failure
	// started is the time of the directories that have none of their own (/, drafts/, events/,
	// .outlookfs/): when the filesystem was made.
	started time.Time
}

type failure struct {
	When   time.Time
	Path   string
	Reason string
}

// New prepares a filesystem; Root gives its root node for go-fuse.
func New(opts Options) *FS {
	opts.setDefaults()
	f := &FS{opts: opts, log: opts.Logger, items: make(map[string]*listing[graph.Attachment]), exts: map[string]string{}, forgotten: map[string]bool{}, itemMemos: map[string]*memo[fileEntry]{}}
	f.started = opts.Now()
	f.drafts.persist, f.drafts.forget = persister[graph.Draft](f, "drafts")
	f.events.persist, f.events.forget = persister[graph.Event](f, "events")
	f.seedFromCache()
	return f
}

// Root returns the root node.
func (f *FS) Root() gofs.InodeEmbedder { return &rootNode{fs: f} }

func (f *FS) itemListing(id string) *listing[graph.Attachment] {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.items[id]
	if !ok {
		l = &listing[graph.Attachment]{}
		store, forget := persister[graph.Attachment](f, "att/"+id)
		if store != nil {
			l.forget = forget
			l.persist = func(atts []graph.Attachment) {
				if f.localPending(id, atts) {
					forget() // the next mount asks Graph: the upload may end after this listing
					return
				}
				store(atts)
			}
		}
		f.items[id] = l
	}
	return l
}

func (f *FS) listDrafts(ctx context.Context) ([]graph.Draft, uint64, error) {
	return f.drafts.get(ctx, f.opts.ListingTTL, f.opts.Now(), f.log, func(ctx context.Context) ([]graph.Draft, error) {
		return f.fetchDrafts(ctx)
	})
}

// draftsDelta is the state of the drafts listing's delta query. Only fetchDrafts uses it, and
// the listing runs one fetch at a time.
type draftsDelta struct {
	link   string
	drafts map[string]graph.Draft
}

// fetchDrafts lists the Drafts folder through a delta query: the first fetch lists everything,
// later ones only what changed (one request for an unchanged folder of 5,000 drafts instead of
// 50). When the service forgets the delta state it starts over; when delta fails altogether
// it falls back to a plain listing.
func (f *FS) fetchDrafts(ctx context.Context) ([]graph.Draft, error) {
	st := &f.delta
	if st.link != "" {
		ch, err := f.opts.Backend.DraftsDelta(ctx, st.link)
		if err == nil {
			for _, d := range ch.Drafts {
				st.drafts[d.ID] = d
			}
			for _, id := range ch.Removed {
				delete(st.drafts, id)
			}
			st.link = ch.DeltaLink
			return draftList(st.drafts), nil
		}
		f.log.Debug("drafts delta failed; listing them all again", "err", err)
		st.link = ""
	}
	ch, err := f.opts.Backend.DraftsDelta(ctx, "")
	if err != nil {
		f.log.Debug("drafts delta unavailable; plain listing", "err", err)
		return f.opts.Backend.ListDrafts(ctx)
	}
	st.drafts = make(map[string]graph.Draft, len(ch.Drafts))
	for _, d := range ch.Drafts {
		st.drafts[d.ID] = d
	}
	st.link = ch.DeltaLink
	return draftList(st.drafts), nil
}

func draftList(m map[string]graph.Draft) []graph.Draft {
	out := make([]graph.Draft, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *FS) listEvents(ctx context.Context) ([]graph.Event, uint64, error) {
	return f.events.get(ctx, f.opts.ListingTTL, f.opts.Now(), f.log, func(ctx context.Context) ([]graph.Event, error) {
		now := f.opts.Now()
		return f.opts.Backend.ListEvents(ctx, now.Add(-f.opts.EventsBack), now.Add(f.opts.EventsAhead))
	})
}

func (f *FS) listAttachments(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, uint64, error) {
	l := f.itemListing(item.ID)
	l.mu.Lock()
	if l.fetched.IsZero() && f.opts.Cache != nil {
		var cached []graph.Attachment
		if stored, ok, _ := f.opts.Cache.GetMeta("att/"+item.ID, &cached); ok {
			l.items, l.fetched, l.begun = cached, stored, time.Time{}
			l.version++
		}
	}
	l.mu.Unlock()
	return l.get(ctx, f.opts.ListingTTL, f.opts.Now(), f.log, func(ctx context.Context) ([]graph.Attachment, error) {
		a, err := f.opts.Backend.ListAttachments(ctx, item)
		if err == nil {
			f.prefetchSmall(ctx, item, a)
		}
		return a, err
	})
}

// smallContentLimit bounds the listed size of the attachments prefetchSmall fetches in one go.
const smallContentLimit = 4 << 20

// prefetchSmall learns the true sizes of an item's small file attachments in one request: when
// there are several whose size is unknown and Graph's (larger) listed sizes add up to little,
// it lists them with their contents and keeps those in the content cache. Otherwise each size
// costs a $value request on the first stat (ls -l of a draft with 500 small attachments would
// make 500 requests).
func (f *FS) prefetchSmall(ctx context.Context, item graph.ItemRef, atts []graph.Attachment) {
	unknown, total := 0, int64(0)
	for _, a := range atts {
		if a.Kind != graph.FileAttachment {
			continue
		}
		if _, ok := f.opts.Cache.Size(a.ID); !ok {
			unknown++
			total += a.Size
		}
	}
	if unknown < 2 || total > smallContentLimit {
		return
	}
	_, content, err := f.opts.Backend.ListAttachmentsWithContent(ctx, item)
	if err != nil {
		f.log.Debug("could not prefetch small attachments; sizes come one by one", "err", err)
		return
	}
	for id, b := range content {
		if f.opts.Cache.Has(id) {
			continue
		}
		if _, err := f.opts.Cache.Fill(ctx, id, bytes.NewReader(b)); err != nil {
			f.log.Debug("could not cache a small attachment", "err", err)
		}
	}
}

func (f *FS) putMeta(key string, v any) {
	if f.opts.Cache == nil {
		return
	}
	if err := f.opts.Cache.PutMeta(key, v); err != nil {
		f.log.Debug("metadata cache write failed", "key", key, "err", err)
	}
}

// localPending says whether the item has local files that atts (a listing just fetched) may
// not show yet: not attached yet, or attached in the background under an id atts lacks.
func (f *FS) localPending(itemID string, atts []graph.Attachment) bool {
	if f.opts.Spool == nil {
		return false
	}
	for _, m := range f.opts.Spool.All() {
		if m.Item.ID != itemID || m.Scratch || m.Abandoned || m.State == spool.StateFailed {
			continue
		}
		if m.State != spool.StateAttached {
			return true
		}
		if !slices.ContainsFunc(atts, func(a graph.Attachment) bool { return a.ID == m.AttachmentID }) {
			return true
		}
	}
	return false
}

// persister returns a listing's persist and forget (see listing): the listing under key in the
// metadata cache.
func persister[T any](f *FS, key string) (func([]T), func()) {
	if f.opts.Cache == nil {
		return nil, nil
	}
	return func(items []T) { f.putMeta(key, items) }, func() {
		if err := f.opts.Cache.DeleteMeta(key); err != nil {
			f.log.Debug("metadata cache delete failed", "key", key, "err", err)
		}
	}
}

// seedFromCache serves the first listings after a remount from the metadata cache.
func (f *FS) seedFromCache() {
	if f.opts.Cache == nil {
		return
	}
	var d []graph.Draft
	if stored, ok, _ := f.opts.Cache.GetMeta("drafts", &d); ok {
		f.drafts.seed(d, stored)
	}
	var e []graph.Event
	if stored, ok, _ := f.opts.Cache.GetMeta("events", &e); ok {
		f.events.seed(e, stored)
	}
}

func (f *FS) recordFailure(path, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, failure{When: f.opts.Now(), Path: path, Reason: reason})
	if len(f.failures) > 100 {
		f.failures = f.failures[len(f.failures)-100:]
	}
}

// rootNode is the mount's top directory: drafts/, events/, .outlookfs/.
type rootNode struct {
	gofs.Inode
	fs *FS
}

var (
	_ gofs.NodeOnAdder   = (*rootNode)(nil)
	_ gofs.NodeGetattrer = (*rootNode)(nil)
	_ gofs.NodeMkdirer   = (*rootNode)(nil)
)

func (r *rootNode) OnAdd(ctx context.Context) {
	r.AddChild("drafts", r.NewPersistentInode(ctx, &folderNode{fs: r.fs}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	r.AddChild("events", r.NewPersistentInode(ctx, &folderNode{fs: r.fs, events: true}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	r.AddChild(".outlookfs", r.NewPersistentInode(ctx, &statusDir{fs: r.fs}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
}

func (r *rootNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(&out.Attr, 0o755, r.fs.started)
	return 0
}

func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// dirAttr describes a directory: perm, modified at t, one link. A directory's link count says
// nothing of its subdirectories here (find and fts read 1 as "unknown": with 2 they would skip
// looking for subdirectories).
func dirAttr(out *fuse.Attr, perm uint32, t time.Time) {
	out.Mode = syscall.S_IFDIR | perm
	out.Nlink = 1
	setTimes(out, t)
}

func setTimes(out *fuse.Attr, t time.Time) {
	if t.IsZero() {
		return
	}
	out.SetTimes(&t, &t, &t)
}

func (f *FS) itemMemo(key string) *memo[fileEntry] {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.itemMemos[key]
	if !ok {
		m = &memo[fileEntry]{}
		f.itemMemos[key] = m
	}
	return m
}
