package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Badger tuning for a small daemon (design.md, "The spool"): Badger's defaults
// cost ~90 MiB of anonymous memory; these keep it small. Badger holds only the
// records (a few hundred bytes each); the bytes are in data files (data.go).
const (
	memTableSize     = 2 << 20  // each memtable (and its .mem WAL file)
	valueLogFileSize = 16 << 20 // small value-log files (records rarely reach the value log at all)
	valueThreshold   = 64 << 10 // records stay in the LSM tree
)

// badgerOptions returns the Badger options of a spool in dir.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithLoggingLevel(badger.WARNING).
		WithSyncWrites(false). // explicit db.Sync() at commit points
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(512 << 10).
		WithValueLogFileSize(valueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0). // 0: the (tiny) table indexes stay in memory, no ristretto cache
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithDetectConflicts(false). // every write to a key is serialised by the spool
		WithMetricsEnabled(false)
}

// badgerLogger routes Badger's log to slog; Badger's level filter keeps
// only warnings and errors.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) { l.log.Error(line(f, a), "component", "badger") }
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(line(f, a), "component", "badger")
}
func (l badgerLogger) Infof(f string, a ...any)  { l.log.Debug(line(f, a), "component", "badger") }
func (l badgerLogger) Debugf(f string, a ...any) { l.log.Debug(line(f, a), "component", "badger") }

func line(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }

var _ badger.Logger = badgerLogger{}

// repairCrashLeftovers removes the empty memtable (.mem) and value-log (.vlog)
// files a kill can leave between Badger creating such a file and sizing it:
// they hold nothing, and Badger refuses to open a directory with one
// ("while opening fid: N err: Create a new file"). Seen in the crash test.
func repairCrashLeftovers(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, de := range entries {
		name := de.Name()
		if !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		fi, err := de.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
		log.Warn("removed an empty file left by a crash", "file", name)
	}
	return nil
}
