// Package spool is the durable buffer between a writer and Microsoft Graph:
// a copied file's bytes live here from the first write until Graph confirmed
// the attachment, and the spool's workers upload them. It holds data that
// exists nowhere else, so it never loses a committed byte and never attaches a
// file its writer did not finish.
//
// # Storage
//
// Options.Dir (created 0700) holds one Badger database per profile, tuned for
// a small daemon (small memtables, no compression, no block cache, Badger's log
// routed to slog at warning level), and the directory data/ (0700).
//
// A file is a JSON record in Badger (key "f/<id>/m": state, name, item, size,
// upload session and progress) plus a data file data/<id> (0600) holding its
// bytes at their offsets; holes read as zeros. Upload PUT i sends bytes
// [i*ChunkSize, (i+1)*ChunkSize) (4 MiB, graph.MaxRangeSize).
//
// The bytes are not Badger values, though design.md planned them as 4 MiB
// values: Badger copies a value twice on its way into its mmap'ed value log
// and ingested ~190-200 MB/s here, against ~1.4 GB/s for a plain file on the
// same disk, and it gives space back only through value-log GC (which also
// competed with the writers for the CPU). A plain file is written at
// page-cache speed, needs no buffer of ours (memory per open file: none) and
// is freed by one unlink the moment its file is attached, failed or removed.
//
// Durability: writes are not synced one by one; a background fdatasync runs
// every 16 MiB written, so that Commit's final fdatasync is short. Commit
// syncs the data file and the data directory before the record saying
// "committed" is written and db.Sync'ed, so a committed record always has its
// bytes, after a kill -9 or a power loss alike. File.Sync (fsync(2)) does the
// same for a file still being written. A background sync that fails makes every
// later Sync and Commit of that file fail too: the kernel reports a writeback
// error to one fsync only, and the bytes may be gone.
//
// # The writer API (used by fs)
//
//	s.Create(ctx, CreateOptions{Item, Name, Scratch, Replaces, ContentType, Mode}) -> *File (state writing)
//	f.WriteAt / f.ReadAt / f.Truncate / f.Size    random and overlapping writes, sparse reads as zeros
//	f.Sync()                                      fdatasync the data file, store the record, db.Sync() (fsync)
//	f.Commit(ctx)                                 close: synced, state committed, queued (scratch: kept)
//	f.CommitAwaited(ctx)                          the same for a close that waits for the upload (never resumed after a crash)
//	f.Abandon(ctx)                                drop the file
//	s.Clone(ctx, id)                              a new writing file with a copy of id's bytes (write after close)
//	s.Get(id) / s.List(item) / s.All()            Meta of one file / an item's pending files / everything
//	s.Rename(ctx, id, item, name, scratch)        free while not attached; scratch -> ordinary commits + queues
//	s.SetAttr(id, mode, mtime)                    kept in the spool, never sent
//	s.Remove(ctx, id)                             cancel the upload and the session, drop the bytes
//	                                              (and delete what a request of unknown outcome may have attached: orphans.go)
//	s.Unlink(ctx, id)                             unlink: Remove, but an open writer keeps its (unlinked) bytes until Abandon
//	s.Space()                                     room left for written files (statfs)
//	Options.Content                               gets each attached file's bytes (the mount's content cache)
//	s.ReadAt(id, p, off)                          read a file still in the spool
//	s.Wait(ctx, id, progress)                     until attached (nil) or failed (*UploadError)
//
// A File writes to its data file directly (random writes need no
// read-modify-write), so memory per open file is none of ours. Writes past
// Options.MaxFileSize fail with ErrFileTooBig (EFBIG); past Options.MaxBytes,
// or with the disk (nearly) full, with ErrNoSpace (ENOSPC): the spool stops
// writing bytes while Badger still has room for its own files, because Badger
// writes through mmap and a full disk there would be a crash rather than an error.
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
// an upload session, PUTs in order, the next chunk read from the data file
// while the current one is on the wire (two 4 MiB buffers per running upload). Retries of single requests happen inside the
// graph client; an attempt that still fails transiently is tried again later
// with a growing delay, a permanent failure marks the file failed.
//
// Before the request that creates the attachment (the final PUT, or the POST)
// the spool records which attachments of the item already have the file's
// name. If that request's outcome is unknown (a crash, a lost answer), the
// item's attachments are checked before uploading again: a new attachment
// with the name is ours, so nothing is attached twice. A POST whose sender
// was killed may still land after that check (the kernel delivers the body
// it was handed, and the server answers nobody), so an unanswered POST is
// looked for again every second until Options.LandingWindow (1 minute; the mount's
// --landing-window) after it was sent, and only then sent again; the log says
// which of the two happened. (A large file's final PUT goes to
// its session, which is asked where it stands first and completes once.)
//
// # Recovery
//
// Open resumes committed and uploading files (from the recorded offset while
// the session lives, asking the session where it stands; else with a new
// session from byte 0). Files still writing when the previous process died are
// never uploaded: they are marked Abandoned, kept visible for
// Options.AbandonedTTL, then deleted. Files committed with CommitAwaited (a
// synchronous close, whose writer was not told yet that the file is safe) and
// not attached when the previous process died are removed, never uploaded: what
// their last request may have attached is deleted (orphans.go).
//
// A write or truncate that failed (ErrNoSpace, an I/O error, ErrFileTooBig)
// breaks its file: Commit refuses it, and the writer drops it (Abandon).
package spool
