package cache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// OpenOrReset opens the cache like Open; if that fails because the directory
// is damaged, it moves the directory aside (to Dir+".broken-<time>"), says so
// in the log, and opens a fresh, empty cache. A directory locked by another
// running process is never moved: that error is returned as is.
func OpenOrReset(opts Options) (*Cache, error) {
	c, err := Open(opts)
	if err == nil {
		return c, nil
	}
	if opts.Dir == "" || lockedByOther(opts.Dir) {
		return nil, err
	}
	aside := opts.Dir + ".broken-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if rerr := os.Rename(opts.Dir, aside); rerr != nil {
		return nil, errors.Join(err, fmt.Errorf("cache: move the damaged cache aside: %w", rerr))
	}
	opts = opts.withDefaults()
	opts.Logger.Warn("The cache could not be opened, so it was moved aside and a fresh one started; "+
		"the old one can be deleted.", "dir", opts.Dir, "moved_to", aside, "err", err)
	c, err2 := Open(opts)
	if err2 != nil {
		return nil, errors.Join(err, fmt.Errorf("cache: open a fresh cache: %w", err2))
	}
	return c, nil
}

// lockedByOther reports whether another open database (in this process or
// another) holds the directory's lock, as Badger takes it: an exclusive flock
// on the directory.
func lockedByOther(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
