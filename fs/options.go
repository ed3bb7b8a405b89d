// Package fs is the FUSE side of outlookfs: go-fuse nodes for the mailbox tree.
// It never speaks HTTP: listings and downloads go through Backend (the graph client),
// written files go through the spool, and read content through the cache.
package fs

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/outlookfs/outlookfs/cache"
	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// Backend is what the filesystem needs from Graph. *graph.Client satisfies it.
type Backend interface {
	ListDrafts(ctx context.Context) ([]graph.Draft, error)
	DraftsDelta(ctx context.Context, deltaLink string) (graph.DraftChanges, error)
	CreateDraft(ctx context.Context, subject string) (graph.Draft, error)
	SetDraftSubject(ctx context.Context, id, subject string) error
	DeleteDraft(ctx context.Context, id string) error
	ListEvents(ctx context.Context, start, end time.Time) ([]graph.Event, error)
	ListAttachments(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, error)
	ListAttachmentsWithContent(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, map[string][]byte, error)
	DownloadAttachment(ctx context.Context, item graph.ItemRef, id string) (io.ReadCloser, int64, error)
	DeleteAttachment(ctx context.Context, item graph.ItemRef, id string) error
}

var _ Backend = (*graph.Client)(nil)

// Options configure a mounted mailbox.
type Options struct {
	Backend Backend      // required
	Spool   *spool.Spool // required: where written files wait for their upload
	Cache   *cache.Cache // required: listings survive remounts, attachments are read through it
	Logger  *slog.Logger

	// Async makes close(2) return once the file is durably in the spool instead of
	// waiting for Graph to confirm the attachment.
	Async bool
	// SyncRetryWindow bounds how long a synchronous close waits through the spool's retries of
	// an upload that keeps failing transiently (counted from the first failure since the upload
	// last made progress); then the upload is cancelled and the close fails with EIO. Default
	// DefaultSyncRetryWindow.
	SyncRetryWindow time.Duration
	// EventsBack and EventsAhead bound the calendarView window shown under events/.
	EventsBack, EventsAhead time.Duration
	// Location is the time zone of event directory names (default: local).
	Location *time.Location
	// ListingTTL is how long a listing is served without asking Graph again.
	ListingTTL time.Duration
	// MaxFileSize is the largest file a write may produce (EFBIG past it).
	MaxFileSize int64
	// TooBigReason explains MaxFileSize in the log (e.g. no upload sessions in this cloud).
	TooBigReason string
	// Describe is shown in .outlookfs/status (mailbox, mode...).
	Describe string
	// Now is the clock (tests may set it); default time.Now.
	Now func() time.Time
}

// DefaultSyncRetryWindow is Options.SyncRetryWindow's default: the "about two minutes" of
// retries docs/semantics.md promises a synchronous close.
const DefaultSyncRetryWindow = 2 * time.Minute

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncRetryWindow <= 0 {
		o.SyncRetryWindow = DefaultSyncRetryWindow
	}
	if o.EventsBack == 0 {
		o.EventsBack = 30 * 24 * time.Hour
	}
	if o.EventsAhead == 0 {
		o.EventsAhead = 365 * 24 * time.Hour
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.ListingTTL == 0 {
		o.ListingTTL = 15 * time.Second
	}
	if o.MaxFileSize == 0 {
		o.MaxFileSize = graph.MaxAttachmentSize
	}
	if o.TooBigReason == "" {
		o.TooBigReason = "Outlook attachments are limited to 150 MB"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
