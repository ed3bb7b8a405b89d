// Package spool is the durable buffer between a writer and Microsoft Graph:
// a copied file's bytes live here from the first write until Graph confirmed
// the attachment, and the spool's workers upload them. It holds data that
// exists nowhere else, so it never loses a committed byte and never attaches a
// file its writer did not finish.
//
// # Storage
//
// One Badger database per profile (Options.Dir, created 0700), tuned for a
// small daemon: small memtables, 32 MiB value-log files, chunks in the value
// log, no compression, no block cache, Badger's log routed to slog at warning
// level. Writes are not synced one by one; Commit and File.Sync call db.Sync.
//
// A file is a JSON record (key "f/<id>/m") plus chunks of exactly ChunkSize
// bytes (4 MiB, graph.MaxRangeSize; key "f/<id>/c/<%08d>"): chunk i is upload
// PUT i. A missing chunk, or the missing tail of a short one, reads as zeros.
// When a file is attached, failed or removed, its keys go with one DropPrefix,
// and the value-log GC reclaims the space (after big drops and periodically).
//
// # The writer API (used by fs)
//
//	s.Create(ctx, CreateOptions{Item, Name, Scratch, Replaces, ContentType, Mode}) -> *File (state writing)
//	f.WriteAt / f.ReadAt / f.Truncate / f.Size    random and overlapping writes, sparse reads as zeros
//	f.Sync()                                      store the buffered chunk and db.Sync() (fsync)
//	f.Commit(ctx)                                 close: synced, state committed, queued (scratch: kept)
//	f.Abandon(ctx)                                drop the file
//	s.Clone(ctx, id)                              a new writing file with a copy of id's bytes (write after close)
//	s.Get(id) / s.List(item) / s.All()            Meta of one file / an item's pending files / everything
//	s.Rename(ctx, id, item, name, scratch)        free while not attached; scratch -> ordinary commits + queues
//	s.SetAttr(id, mode, mtime)                    kept in the spool, never sent
//	s.Remove(ctx, id)                             unlink: cancel the upload and the session, drop the bytes
//	s.ReadAt(id, p, off)                          read a file still in the spool
//	s.Wait(ctx, id, progress)                     until attached (nil) or failed (*UploadError)
//
// A File keeps one chunk in memory (read-modify-write for random writes), so
// memory per open file is one chunk whatever the file's size. Writes past
// Options.MaxFileSize fail with ErrFileTooBig (EFBIG); past Options.MaxBytes,
// or with the disk (nearly) full, with ErrNoSpace (ENOSPC): the spool stops
// writing while Badger still has room for its own files, because Badger writes
// through mmap and a full disk there would be a crash rather than an error.
// The errors match their errno with errors.Is.
//
// # States
//
//	writing -> committed -> uploading -> attached | failed
//
// Committed: the writer closed the file and the database is synced. Uploading:
// the session's URL, expiry and the confirmed offset are recorded after every
// accepted PUT. Attached: the attachment id is recorded, the attachment it
// replaces (CreateOptions.Replaces) is deleted, the bytes are dropped, and the
// file stays visible in memory for a while. Failed: FailKind and a Reason a
// person can act on are kept (for Options.AbandonedTTL); the bytes are dropped.
// A transient failure (network, throttling, 5xx after the graph client's own
// retries) is not a failure: the upload is tried again later, with a growing
// delay, and Meta.Reason says what went wrong meanwhile.
//
// Scratch files (editors' and sync tools' temporaries) are held like any file
// but never queued; renaming one to an ordinary name commits and queues it;
// closed ones expire after Options.ScratchTTL.
//
// # Uploads
//
// Options.Workers workers (the graph client bounds the requests in flight per
// mailbox). Files under Options.SmallLimit go in one POST; larger ones through
// an upload session, PUTs in order, the next chunk read from the database while
// the current one is on the wire. Retries of single requests happen inside the
// graph client; an attempt that still fails transiently is tried again later
// with a growing delay, a permanent failure marks the file failed.
//
// Before the request that creates the attachment (the final PUT, or the POST)
// the spool records which attachments of the item already have the file's
// name. If that request's outcome is unknown (a crash, a lost answer), the
// item's attachments are checked before uploading again: a new attachment
// with the name is ours, so nothing is attached twice.
//
// # Recovery
//
// Open resumes committed and uploading files (from the recorded offset while
// the session lives, asking the session where it stands; else with a new
// session from byte 0). Files still writing when the previous process died are
// never uploaded: they are marked Abandoned, kept visible for
// Options.AbandonedTTL, then deleted.
package spool
