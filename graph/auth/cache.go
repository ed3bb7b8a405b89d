package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// fileCache persists MSAL's token cache in one file: 0600, in a 0700
// directory, replaced atomically (temp file + rename) under an exclusive
// flock on a lock file beside it, so two processes never clobber each other's
// writes or read a half-written file. Its content (tokens) is never logged.
type fileCache struct {
	path string
	log  *slog.Logger
}

var _ cache.ExportReplace = (*fileCache)(nil)

// newFileCache prepares dir (created 0700, tightened to 0700 if it exists).
func newFileCache(dir string, log *slog.Logger) (*fileCache, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return &fileCache{path: filepath.Join(dir, "msal-cache.json"), log: log}, nil
}

// ensurePrivateDir creates dir and its missing parents 0700 and makes dir itself 0700.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: token cache directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("auth: token cache directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("auth: token cache directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("auth: token cache directory: %w", err)
		}
	}
	return nil
}

// Replace loads the file into MSAL's cache; a missing file is an empty cache
// (so a logout by another process is seen), an unreadable one too (with a warning).
func (c *fileCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	unlock, err := c.lock(ctx, syscall.LOCK_SH)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(c.path)
	unlock()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = []byte("{}")
	case err != nil:
		return fmt.Errorf("auth: read token cache: %w", err)
	}
	if err := u.Unmarshal(data); err != nil {
		// Never log data or err's text beyond its kind: it may quote the content.
		c.log.Warn("auth: the token cache file is damaged; starting with an empty one", "path", c.path)
		return u.Unmarshal([]byte("{}"))
	}
	return nil
}

// Export writes MSAL's cache to the file atomically.
func (c *fileCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("auth: token cache: %w", err)
	}
	unlock, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if err := writeFileAtomic(c.path, data); err != nil {
		return fmt.Errorf("auth: write token cache: %w", err)
	}
	c.log.Debug("auth: token cache written", "path", c.path, "bytes", len(data))
	return nil
}

// remove deletes the cache file (logout).
func (c *fileCache) remove(ctx context.Context) error {
	unlock, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth: remove token cache: %w", err)
	}
	return nil
}

// lock takes a flock on the lock file beside the cache, retrying until ctx ends.
func (c *fileCache) lock(ctx context.Context, how int) (unlock func(), err error) {
	f, err := os.OpenFile(c.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: token cache lock: %w", err)
	}
	delay := time.Millisecond
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("auth: token cache lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("auth: waiting for the token cache lock: %w", ctx.Err())
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// writeFileAtomic writes data to path through a 0600 temp file in the same
// directory, synced, then renamed over path.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
