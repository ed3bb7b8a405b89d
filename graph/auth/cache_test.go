package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

func exportHints() cache.ExportHints   { return cache.ExportHints{} }
func replaceHints() cache.ReplaceHints { return cache.ReplaceHints{} }

// memCache stands in for MSAL's in-memory cache.
type memCache struct{ data []byte }

func (m *memCache) Marshal() ([]byte, error) { return m.data, nil }
func (m *memCache) Unmarshal(b []byte) error {
	if !json.Valid(b) {
		return errors.New("invalid JSON")
	}
	m.data = append([]byte(nil), b...)
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestFileCacheModes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "p", "auth")
	// A directory left open to others is tightened.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fc, err := newFileCache(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Export(ctx, &memCache{data: []byte(`{"AccessToken":{}}`)}, exportHints()); err != nil {
		t.Fatal(err)
	}
	di, _ := os.Stat(dir)
	fi, _ := os.Stat(fc.path)
	if di.Mode().Perm() != 0o700 || fi.Mode().Perm() != 0o600 {
		t.Errorf("directory %v, file %v; want 0700 and 0600", di.Mode().Perm(), fi.Mode().Perm())
	}
	// Created from nothing: every new directory is 0700.
	dir2 := filepath.Join(t.TempDir(), "a", "b")
	if _, err := newFileCache(dir2, quietLog()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir2, filepath.Dir(dir2)} {
		if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v", d, fi.Mode().Perm())
		}
	}
}

func TestFileCacheRoundTrip(t *testing.T) {
	ctx := context.Background()
	fc, err := newFileCache(t.TempDir(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	// No file: an empty cache (a logout elsewhere is seen).
	m := &memCache{data: []byte(`{"stale":1}`)}
	if err := fc.Replace(ctx, m, replaceHints()); err != nil || string(m.data) != "{}" {
		t.Fatalf("Replace without a file: %s, %v", m.data, err)
	}
	want := `{"RefreshToken":{"k":{"secret":"x"}}}`
	if err := fc.Export(ctx, &memCache{data: []byte(want)}, exportHints()); err != nil {
		t.Fatal(err)
	}
	if err := fc.Replace(ctx, m, replaceHints()); err != nil || string(m.data) != want {
		t.Fatalf("Replace: %s, %v", m.data, err)
	}
	// A damaged file: an empty cache and a warning that does not quote it.
	if err := os.WriteFile(fc.path, []byte(`{"RefreshToken": SECRET-PART`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	fc.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := fc.Replace(ctx, m, replaceHints()); err != nil || string(m.data) != "{}" {
		t.Fatalf("Replace of a damaged file: %s, %v", m.data, err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("damaged")) || bytes.Contains(logs.Bytes(), []byte("SECRET")) {
		t.Errorf("log: %s", logs.String())
	}
	if err := fc.remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fc.path); !os.IsNotExist(err) {
		t.Errorf("file still there: %v", err)
	}
}

// Two "processes" (two caches on one file) writing and reading at once: a
// reader always sees one whole version, never a torn or empty file.
func TestFileCacheConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _ := newFileCache(dir, quietLog())
	b, _ := newFileCache(dir, quietLog())
	big := bytes.Repeat([]byte("x"), 256<<10)
	version := func(w, i int) []byte {
		return []byte(fmt.Sprintf(`{"writer":%d,"i":%d,"pad":"%s"}`, w, i, big))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w, fc := range []*fileCache{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := fc.Export(ctx, &memCache{data: version(w, i)}, exportHints()); err != nil {
					errs <- err
					return
				}
				m := &memCache{}
				if err := fc.Replace(ctx, m, replaceHints()); err != nil {
					errs <- err
					return
				}
				var v struct{ Writer, I int }
				if err := json.Unmarshal(m.data, &v); err != nil || !bytes.Equal(m.data, version(v.Writer, v.I)) {
					errs <- fmt.Errorf("read a torn cache (%d bytes): %v", len(m.data), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".tmp" {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// A writer waits for the lock another holds, and gives up when its context ends.
func TestFileCacheLock(t *testing.T) {
	dir := t.TempDir()
	fc, _ := newFileCache(dir, quietLog())
	other, err := os.OpenFile(fc.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = fc.Export(ctx, &memCache{data: []byte(`{}`)}, exportHints())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Export under another's lock = %v, want the context's deadline", err)
	}
	if _, err := os.Stat(fc.path); !os.IsNotExist(err) {
		t.Error("Export wrote without the lock")
	}
	// Released: the waiting writer goes through.
	done := make(chan error, 1)
	go func() { done <- fc.Export(context.Background(), &memCache{data: []byte(`{"a":1}`)}, exportHints()) }()
	time.Sleep(20 * time.Millisecond)
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fc.path); string(b) != `{"a":1}` {
		t.Errorf("file holds %s", b)
	}
}
