package cache

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// testOptions returns options for a cache in a fresh temporary directory.
func testOptions(t testing.TB) Options {
	t.Helper()
	return Options{
		Dir:    t.TempDir() + "/cache",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// openT opens a cache and closes it when the test ends.
func openT(t testing.TB, opts Options) *Cache {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// content returns n deterministic pseudo-random bytes for a seed.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fillT stores data under id and checks the returned length.
func fillT(t testing.TB, c *Cache, id string, data []byte) {
	t.Helper()
	n, err := c.Fill(t.Context(), id, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Fill(%q): %v", id, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Fill(%q) = %d, want %d", id, n, len(data))
	}
}

// readAll reads id's whole content through ReadAt.
func readAll(t testing.TB, c *Cache, id string) []byte {
	t.Helper()
	size, ok := c.Size(id)
	if !ok {
		t.Fatalf("Size(%q) unknown", id)
	}
	p := make([]byte, size)
	n, err := c.ReadAt(id, p, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(p)) {
		t.Fatalf("ReadAt(%q): %d, %v", id, n, err)
	}
	return p[:n]
}

// countingReader counts the Read calls made on it.
type countingReader struct {
	r     io.Reader
	reads atomic.Int32
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.r.Read(p)
}

// gatedReader serves data, but its first Read signals started and then
// blocks until release is closed; after failAfter bytes it returns err
// (when err is set).
type gatedReader struct {
	data      []byte
	started   chan struct{}
	release   chan struct{}
	failAfter int
	err       error

	once sync.Once
	off  int
}

func newGatedReader(data []byte) *gatedReader {
	return &gatedReader{data: data, started: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	if g.err != nil && g.off >= g.failAfter {
		return 0, g.err
	}
	end := len(g.data)
	if g.err != nil {
		end = min(end, g.failAfter)
	}
	if g.off >= end {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// failingReader returns data, then err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

// storedKeys lists every key in the database with the given prefix.
func storedKeys(t testing.TB, c *Cache, prefix []byte) [][]byte {
	t.Helper()
	var keys [][]byte
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing keys: %v", err)
	}
	return keys
}

// used returns the cache's count of content bytes.
func used(c *Cache) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
