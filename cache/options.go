package cache

import (
	"log/slog"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configure a Cache.
type Options struct {
	Dir      string // $XDG_CACHE_HOME/outlookfs/<profile> (created 0700)
	MaxBytes int64  // content bytes kept (LRU by last read); default 1 GiB
	Logger   *slog.Logger

	// chunkSize is the size of a stored content chunk; 0 means defaultChunkSize.
	// Entries record the chunk size they were written with, so changing it
	// keeps existing content readable.
	chunkSize int64
}

const (
	defaultMaxBytes  = 1 << 30
	defaultChunkSize = 1 << 20

	// accessFlushInterval is how often last-read times are written back to
	// Badger (they are kept in memory in between, and written on Close).
	accessFlushInterval = time.Minute
	// gcInterval is how often the value log is garbage collected besides
	// after evictions.
	gcInterval = 10 * time.Minute
	// gcDiscardRatio is the share of a value log file that must be garbage
	// for RunValueLogGC to rewrite it.
	gcDiscardRatio = 0.5
)

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.chunkSize <= 0 {
		o.chunkSize = defaultChunkSize
	}
	return o
}

// badgerOptions tunes Badger for a small daemon's disposable cache: small
// memtables and caches, 32 MiB value log files (so GC can reclaim space),
// values in the value log, no compression, no sync on every write.
func badgerOptions(o Options) badger.Options {
	return badger.DefaultOptions(o.Dir).
		WithLogger(slogBadger{l: o.Logger.With("component", "cache.badger")}).
		WithLoggingLevel(badger.WARNING).
		WithSyncWrites(false).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithValueLogFileSize(32 << 20).
		WithValueThreshold(1 << 10).
		WithCompression(options.None).
		WithBlockCacheSize(1 << 20).
		WithIndexCacheSize(1 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
}
