package fs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// listing holds one directory's listing from Graph. Reads are served from memory; a listing
// older than the TTL is served as is while a background refresh runs; an invalidated listing
// (after a local change) is fetched again before it is served, so a program sees its own changes.
// No lock is held while Graph is asked.
type listing[T any] struct {
	mu      sync.Mutex
	items   []T
	fetched time.Time // zero: never fetched
	// begun is when the fetch that gave items started (zero: from the metadata cache, or never
	// fetched): what changed on the server before it may be missing from items, nothing after.
	begun    time.Time
	stale    bool // invalidated by a local change
	inflight chan struct{}
	err      error  // of the last fetch, handed to the waiters of that fetch
	version  uint64 // changes whenever items do: lets callers keep what they derive from them
	fetches  uint64 // successful fetches from Graph
	// persist keeps a fetched listing in the metadata cache, for the first listing after a
	// remount; forget drops it there. Both are optional and called with mu held, so that a
	// local change (which forgets) can never be followed by the store of a listing fetched
	// before it: a remount would serve a listing without the change (the file cp attached
	// missing, so a script copies it again).
	persist func([]T)
	forget  func()
}

// fetchCount is how many times the listing was fetched from Graph.
func (l *listing[T]) fetchCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fetches
}

// get returns the items, fetching them when there are none or they were invalidated, and
// refreshing them in the background when they are older than ttl.
func (l *listing[T]) get(ctx context.Context, ttl time.Duration, now time.Time, log *slog.Logger,
	fetch func(context.Context) ([]T, error)) ([]T, uint64, error) {
	l.mu.Lock()
	if !l.fetched.IsZero() && !l.stale {
		items, v := l.items, l.version
		if now.Sub(l.fetched) > ttl && l.inflight == nil {
			l.startLocked(fetch, log)
		}
		l.mu.Unlock()
		return items, v, nil
	}
	for round := 0; ; round++ {
		wait := l.inflight
		if wait == nil {
			wait = l.startLocked(fetch, log)
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		l.mu.Lock()
		if l.fetched.IsZero() {
			err := l.err
			l.mu.Unlock()
			return nil, 0, err
		}
		// A local change that landed during that fetch may be missing from it: fetch once more.
		if !l.stale || l.err != nil || round > 0 {
			items, v := l.items, l.version
			l.mu.Unlock()
			return items, v, nil
		}
	}
}

// startLocked begins a fetch in the background; the caller holds l.mu.
func (l *listing[T]) startLocked(fetch func(context.Context) ([]T, error), log *slog.Logger) chan struct{} {
	done := make(chan struct{})
	l.inflight = done
	l.stale = false // changes after this point mark it stale again
	begun := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		items, err := fetch(ctx)
		l.mu.Lock()
		if err != nil {
			log.Warn("could not list from Graph; showing what is known", "err", err)
			l.err = err
		} else {
			l.items, l.err, l.fetched, l.begun = items, nil, time.Now(), begun
			l.version++
			l.fetches++
			if !l.stale && l.persist != nil { // else a local change since the fetch began is missing
				l.persist(items)
			}
		}
		l.inflight = nil
		l.mu.Unlock()
		close(done)
	}()
	return done
}

// begunOf says when the fetch that gave version v of the items started; zero when v is no longer
// the current version or came from the metadata cache (older than anything this mount did).
func (l *listing[T]) begunOf(v uint64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v != l.version {
		return time.Time{}
	}
	return l.begun
}

// invalidate makes the next get fetch again, and drops the persisted copy, which no longer
// shows the local change that invalidated it.
func (l *listing[T]) invalidate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stale = true
	if l.forget != nil {
		l.forget()
	}
}

// unstore drops the persisted copy only: a local change is on its way (a file being written)
// and may end in the background, where no invalidate follows.
func (l *listing[T]) unstore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.forget != nil {
		l.forget()
	}
}

// update changes the cached items in place (after a local change whose outcome is known)
// without forcing a fetch.
func (l *listing[T]) update(f func([]T) []T) {
	l.mu.Lock()
	if !l.fetched.IsZero() {
		l.items = f(l.items)
		l.version++
	}
	l.mu.Unlock()
}

// seed fills a never-fetched listing from the persistent metadata cache: it is served
// at once and refreshed in the background.
func (l *listing[T]) seed(items []T, stored time.Time) {
	l.mu.Lock()
	if l.fetched.IsZero() {
		l.items = items
		l.fetched, l.begun = stored, time.Time{}
		l.version++
	}
	l.mu.Unlock()
}

// memo keeps what was derived from one version of a listing (names are costly to make:
// every lookup in a directory of 5,000 drafts would otherwise make them all again).
type memo[E any] struct {
	mu      sync.Mutex
	valid   bool
	version uint64
	entries []E
	index   map[string]int
}

// get returns the entries for version, deriving them with make when the version changed.
func (m *memo[E]) get(version uint64, make func() []E, name func(E) string) ([]E, map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.valid && m.version == version {
		return m.entries, m.index
	}
	m.entries = make()
	m.index = make2(m.entries, name)
	m.valid, m.version = true, version
	return m.entries, m.index
}

func make2[E any](entries []E, name func(E) string) map[string]int {
	idx := map[string]int{}
	for i, e := range entries {
		idx[name(e)] = i
	}
	return idx
}
