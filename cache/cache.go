package cache

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrNotCached is returned by ReadAt when the id's content is not (or no
// longer) cached: the caller fetches it again, e.g. with Fill.
var ErrNotCached = errors.New("cache: content not cached")

// ErrClosed: the cache was closed (a fill still running when it was stops there).
var ErrClosed = errors.New("cache: closed")

// Cache is the metadata and content cache. It is safe for concurrent use.
type Cache struct {
	db        *badger.DB
	log       *slog.Logger
	maxBytes  int64
	chunkSize int64

	// persistMu serializes every change to entry records together with the
	// index's membership: a Fill's commit, eviction, Forget and the lazy
	// write-back of read times. It is never held while reading a Fill's
	// stream; it is held for Badger writes of small records and deletes.
	persistMu sync.Mutex
	// writeMu: writes and reads hold it for reading, DropPrefix and Close exclusively (store.go).
	writeMu sync.RWMutex
	closed  bool // on writeMu: the database is closed

	mu      sync.Mutex
	lru     *list.List               // of *entry, front = most recently read
	entries map[string]*list.Element // complete entries by id
	used    int64                    // bytes of complete entries plus bytes written by fills in flight
	dirty   map[string]struct{}      // ids whose read time changed since it was last persisted
	flights map[string]*flight       // fills in progress by id

	gcKick    chan struct{}
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// entry is one complete content entry in the LRU index.
type entry struct {
	id  string
	rec entryRecord
}

// Open opens (or creates) the cache in opts.Dir. An error means the cache is
// unusable (e.g. corrupt or locked by another process): the caller may run
// without a cache, or use OpenOrReset.
func Open(opts Options) (*Cache, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("cache: no directory given")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: create directory: %w", err)
	}
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: set directory mode: %w", err)
	}
	db, err := openBadger(badgerOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("cache: open database in %s: %w", opts.Dir, err)
	}
	c := &Cache{
		db:        db,
		log:       opts.Logger,
		maxBytes:  opts.MaxBytes,
		chunkSize: opts.chunkSize,
		lru:       list.New(),
		entries:   make(map[string]*list.Element),
		dirty:     make(map[string]struct{}),
		flights:   make(map[string]*flight),
		gcKick:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
	}
	if err := c.load(); err != nil {
		return nil, errors.Join(fmt.Errorf("cache: load index from %s: %w", opts.Dir, err), db.Close())
	}
	if c.evict() {
		c.kickGC()
	}
	go c.loop()
	return c, nil
}

// openBadger opens the database, turning a panic on a damaged directory into
// an error.
func openBadger(o badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badger panicked while opening: %v", r)
		}
	}()
	return badger.Open(o)
}

// Close stops the background work, writes back read times and closes the
// database. Calls after the first return the first's result.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.loopDone
		flushErr := c.flushAccess()
		c.writeMu.Lock() // waits for a database call in progress (a fill may still run)
		c.closed = true
		dbErr := c.db.Close()
		c.writeMu.Unlock()
		c.closeErr = errors.Join(flushErr, dbErr)
		if c.closeErr != nil {
			c.closeErr = fmt.Errorf("cache: close: %w", c.closeErr)
		}
	})
	return c.closeErr
}
