// Package cache is outlookfs's disposable cache: metadata (item and attachment
// listings as JSON, with the time they were stored) and attachment content, in
// one Badger database under $XDG_CACHE_HOME/outlookfs/<profile>.
//
// Content is keyed by attachment id. Attachments never change, so cached bytes
// never go stale; they are kept in chunks, and whole entries are evicted least
// recently read first once the content passes Options.MaxBytes. Nothing here
// is needed for correctness: a cache that cannot be opened can be reset with
// OpenOrReset, or the filesystem can run without one.
//
// Ids come from the server and are used only as parts of Badger keys, never
// as file names.
package cache
