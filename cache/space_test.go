package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// vlogFiles counts Badger's value log files in dir.
func vlogFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestSpaceReclaimed: evicted content's value log space is given back, so
// the directory stays bounded however much content passes through.
func TestSpaceReclaimed(t *testing.T) {
	const (
		entry   = 8 << 20
		fills   = 16 // 128 MiB through a 24 MiB cache: four 32 MiB value logs' worth
		maxVlog = 3  // the live content plus the file being written
	)
	opts := testOptions(t)
	opts.MaxBytes = 3 * entry
	c := openT(t, opts)
	data := content(1, entry)
	for i := range fills {
		id := fmt.Sprint(i)
		if _, err := c.Fill(t.Context(), id, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		c.runGC() // what the background loop does after evictions, made synchronous
	}
	if n := vlogFiles(t, opts.Dir); n > maxVlog {
		t.Errorf("%d value log files after %d MiB through a %d MiB cache, want at most %d",
			n, fills*entry>>20, opts.MaxBytes>>20, maxVlog)
	}
	for _, id := range []string{"13", "14", "15"} {
		if !bytes.Equal(readAll(t, c, id), data) {
			t.Errorf("%s: wrong content after GC", id)
		}
	}
	var total int64
	entries, _ := os.ReadDir(opts.Dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			total += fi.Size()
		}
	}
	t.Logf("directory: %d MiB in %d files for %d MiB of content", total>>20, len(entries), used(c)>>20)
}
