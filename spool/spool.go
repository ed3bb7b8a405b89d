package spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/outlookfs/outlookfs/graph"
)

// Spool is the durable buffer of files on their way to becoming attachments,
// and their upload queue. It is safe for concurrent use.
type Spool struct {
	opts Options
	log  *slog.Logger
	db   *badger.DB
	pool *bufPool
	// syncFile makes a data file's bytes durable (syncData; tests put a failing disk here).
	syncFile func(*os.File) error
	// syncDB makes the records written so far durable (db.Sync; tests put a failing disk here).
	syncDB func() error
	// afterDrop, if set, runs in Remove once the file is gone from memory and before its
	// records are written (tests run a concurrent upload there).
	afterDrop func(id string)

	// life: public operations hold it shared (enter/leave); Close holds it
	// exclusively to close the database once they are done.
	life sync.RWMutex
	shut bool

	ctx    context.Context // cancelled by Close: stops uploads
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // workers, janitor, background calls

	// omu serialises the writes of orphan records (and their removal), so that the last one
	// written is the last one made. Taken before entry.pmu and mu.
	omu sync.Mutex

	mu        sync.Mutex
	files     map[string]*entry
	used      int64      // bytes held for files (their sizes), counted against MaxBytes
	queue     []string   // ids waiting for a worker
	queueCond *sync.Cond // on mu: the queue got an id, or the spool is closing
	runs      int        // uploads running
	closing   bool
	drops     []string // ids whose data files wait for the janitor to delete them
	kick      chan struct{}
	// orphans: attachments that files given up may have made (orphans.go), by file id.
	orphans     map[string]*orphan
	huntKick    chan struct{}
	nameChanges uint64 // files created, renamed or attached: an orphan hunt's listing is stale
	// unacked: files recovered whose synchronous close had not returned (record.Awaited); Open removes them.
	unacked []string
}

// entry is the spool's view of one file. The persisted part (rec) is replaced
// only by update, which holds pmu; everything else is guarded by Spool.mu.
type entry struct {
	id  string // never changes
	pmu sync.Mutex
	rec record

	size        int64     // live size (the record's Size is a copy made when it is persisted)
	mtime       time.Time // live mtime
	held        bool      // the file's bytes are in its data file and counted in Spool.used
	dropped     bool      // its record is gone from the database (the entry lives on in memory only)
	dataDropped bool      // its data file is deleted or waits for the janitor to delete it
	writer      *File     // the open writer, while writing in this process
	changed     chan struct{}

	queued, running bool
	cancel          context.CancelFunc // of the running upload
	gen             int                // bumped by Rename/Remove: a running upload is then stale
	retries         int                // transient failures in a row
	rerun           bool               // queued again while running
	replaceTried    bool               // deleting the replaced attachment failed once (Wait stops waiting)
	retryTimer      *time.Timer
	lastErr         error
}

// meta returns the file's Meta. Callers hold Spool.mu.
func (e *entry) meta() Meta {
	m := e.rec.Meta
	m.Size = e.size
	m.Mtime = e.mtime
	m.Finished = e.rec.FinishedAt
	return m
}

// notifyLocked wakes every Wait on e. Callers hold Spool.mu.
func (e *entry) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Open opens (creating it if needed) the spool in opts.Dir and recovers what a
// previous process left: committed and uploading files resume their uploads,
// files still being written are marked Abandoned and never uploaded.
func Open(ctx context.Context, opts Options) (*Spool, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", noSpace(err))
	}
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, dataDirName), 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", noSpace(err))
	}
	if err := os.Chmod(filepath.Join(opts.Dir, dataDirName), 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := repairCrashLeftovers(opts.Dir, opts.Logger); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	db, err := badger.Open(badgerOptions(opts.Dir, opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", opts.Dir, noSpace(err))
	}
	s := &Spool{
		opts:     opts,
		log:      opts.Logger.With("component", "spool"),
		db:       db,
		pool:     newBufPool(1),
		syncFile: syncData,
		syncDB:   db.Sync,
		files:    make(map[string]*entry),
		kick:     make(chan struct{}, 1),
		orphans:  make(map[string]*orphan),
		huntKick: make(chan struct{}, 1),
	}
	s.queueCond = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	if err := s.recover(ctx); err != nil {
		s.cancel(errClosing)
		_ = db.Close()
		return nil, err
	}
	if err := s.loadOrphans(); err != nil {
		s.cancel(errClosing)
		_ = db.Close()
		return nil, fmt.Errorf("spool: reading the spool: %w", err)
	}
	for _, id := range s.unacked {
		s.mu.Lock()
		e := s.files[id]
		s.mu.Unlock()
		s.log.Warn("a file whose copy had not finished (its synchronous close was waiting for the upload) when outlookfs "+
			"stopped is not attached: its cp did not succeed; copy it again", "id", id, "item", e.rec.Item, "name", e.rec.Name)
		if err := s.remove(id); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Error("could not drop an unacknowledged file", "id", id, "err", err)
		}
	}
	s.unacked = nil
	if opts.Uploader != nil {
		for range opts.Workers {
			s.wg.Add(1)
			go s.worker()
		}
		s.wg.Add(1)
		go s.hunter()
	}
	s.wg.Add(1)
	go s.janitor()
	return s, nil
}

// Close stops the uploads (they resume at the next Open), flushes open
// writers' buffers, syncs and closes the database.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closing = true
	for _, e := range s.files {
		if e.retryTimer != nil {
			e.retryTimer.Stop()
		}
		e.notifyLocked()
	}
	s.queueCond.Broadcast()
	s.mu.Unlock()
	s.cancel(errClosing) // requests in flight finish (within CloseGrace); no new one starts
	s.wg.Wait()
	s.life.Lock()
	defer s.life.Unlock()
	s.shut = true

	// The open writers, once no operation is in progress: a Create may have
	// added one while the uploads in flight finished.
	var writers []*File
	s.mu.Lock()
	for _, e := range s.files {
		if e.writer != nil {
			writers = append(writers, e.writer)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, f := range writers {
		errs = append(errs, f.closeForShutdown())
	}
	synced := s.db.Sync()
	errs = append(errs, synced, s.db.Close())
	s.pool.close()
	if synced == nil {
		s.deleteDropped(false) // the records that let them go are on disk
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}

// Get returns a file's Meta.
func (s *Spool) Get(id string) (Meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.files[id]
	if !ok {
		return Meta{}, false
	}
	return e.meta(), true
}

// List returns the item's files that are not attached yet (writing, committed,
// uploading, failed; scratch files too), oldest first.
func (s *Spool) List(item graph.ItemRef) []Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Meta
	for _, e := range s.files {
		if e.rec.Item == item && e.rec.State != StateAttached {
			out = append(out, e.meta())
		}
	}
	sortMetas(out)
	return out
}

// All returns every file the spool knows, recently attached ones included, oldest first.
func (s *Spool) All() []Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Meta, 0, len(s.files))
	for _, e := range s.files {
		out = append(out, e.meta())
	}
	sortMetas(out)
	return out
}

func sortMetas(ms []Meta) {
	slices.SortFunc(ms, func(a, b Meta) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// SetAttr records a mode and/or mtime (kept in the spool, never sent to Graph).
func (s *Spool) SetAttr(id string, mode *uint32, mtime *time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	e, err := s.lookup(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if mtime != nil {
		e.mtime = *mtime
	}
	s.mu.Unlock()
	return s.update(e, -1, func(r *record) error {
		if mode != nil {
			r.Mode = *mode
		}
		return nil
	})
}

// SetReplaces makes the file replace attachment attID: once the file is attached, attID is
// deleted (durably: a restart in between still deletes it). fs uses it when a local file is
// renamed over an attachment, as rsync and GIO do. ErrCommitted if the file is attached already.
func (s *Spool) SetReplaces(id, attID string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	e, err := s.lookup(id)
	if err != nil {
		return err
	}
	return s.update(e, -1, func(r *record) error {
		if r.State == StateAttached {
			return ErrCommitted
		}
		r.Replaces = attID
		return nil
	})
}

// ReadAt reads a file still held by the spool (through its writer's buffer
// while it is open). Attached and failed files no longer have their bytes: ErrNotFound.
func (s *Spool) ReadAt(id string, p []byte, off int64) (int, error) {
	s.mu.Lock()
	e, ok := s.files[id]
	var w *File
	if ok {
		w = e.writer
	}
	s.mu.Unlock()
	if !ok {
		return 0, ErrNotFound
	}
	if w != nil {
		return w.ReadAt(p, off)
	}
	return s.readEntry(e, p, off)
}

// lookup returns the entry of a file whose keys are still in the database.
func (s *Spool) lookup(id string) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ErrClosed
	}
	e, ok := s.files[id]
	if !ok || e.dropped {
		return nil, ErrNotFound
	}
	return e, nil
}

// update applies fn to a copy of e's record, persists it, then installs it
// and wakes waiters. With gen >= 0 the update is refused (errStale) if a
// Rename or Remove made that generation stale.
func (s *Spool) update(e *entry, gen int, fn func(r *record) error) error {
	return s.updateTx(e, gen, fn, nil)
}

// updateTx is update with more writes (extra) in the record's transaction.
func (s *Spool) updateTx(e *entry, gen int, fn func(r *record) error, extra func(txn *badger.Txn) error) error {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	s.mu.Lock()
	if e.dropped {
		s.mu.Unlock()
		return ErrNotFound
	}
	if gen >= 0 && gen != e.gen {
		s.mu.Unlock()
		return errStale
	}
	next := e.rec.clone()
	next.Size = e.size
	next.Mtime = e.mtime
	s.mu.Unlock()
	if fn != nil {
		if err := fn(&next); err != nil {
			return err
		}
	}
	if err := s.putRecord(&next, extra); err != nil {
		return err
	}
	s.mu.Lock()
	e.rec = next
	e.notifyLocked()
	s.mu.Unlock()
	return nil
}

// errStale: the upload's generation is no longer the file's (renamed or removed meanwhile).
var errStale = errors.New("spool: upload superseded")

func (s *Spool) putRecord(r *record, extra func(txn *badger.Txn) error) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("spool: encode record: %w", err)
	}
	return s.write(func(txn *badger.Txn) error {
		if extra != nil {
			if err := extra(txn); err != nil {
				return err
			}
		}
		return txn.Set(metaKey(r.ID), data)
	})
}

// deleteRecord deletes a file's record (a tombstone: records are small and
// live in the LSM tree, so no value-log space is involved).
func (s *Spool) deleteRecord(id string) {
	if err := s.write(func(txn *badger.Txn) error { return txn.Delete(metaKey(id)) }); err != nil {
		s.log.Warn("could not delete a finished file's record", "id", id, "err", err)
	}
}

// write runs fn in a read-write transaction.
func (s *Spool) write(fn func(txn *badger.Txn) error) error {
	if err := s.db.Update(fn); err != nil {
		return noSpace(fmt.Errorf("spool: write: %w", err))
	}
	return nil
}

// readEntry reads a file's stored bytes, making sure they were not dropped meanwhile.
func (s *Spool) readEntry(e *entry, p []byte, off int64) (int, error) {
	s.mu.Lock()
	size, held := e.size, e.held && !e.dropped
	s.mu.Unlock()
	if !held {
		return 0, ErrNotFound
	}
	n, err := s.readStored(e.id, size, p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	s.mu.Lock()
	held = e.held && !e.dropped
	s.mu.Unlock()
	if !held {
		return 0, ErrNotFound
	}
	return n, err
}

// newID returns a fresh file id (hex, no '/').
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
