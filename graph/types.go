package graph

import (
	"fmt"
	"net/url"
	"time"
)

// Size thresholds from graph-protocol.md.
const (
	// MinUploadSessionSize is the smallest attachment an upload session accepts (3 MiB).
	// Anything smaller must go in one POST.
	MinUploadSessionSize = 3 << 20
	// MaxRangeSize is the largest range one PUT to an upload session may carry (4 MiB).
	MaxRangeSize = 4 << 20
	// MaxAttachmentSize is Graph's documented ceiling for one attachment (150 MB).
	// The mailbox's message size limit (35 MB by default) usually binds first.
	MaxAttachmentSize = 150 << 20
)

// ItemKind says whether an item is a message (draft) or a calendar event.
type ItemKind int

const (
	KindMessage ItemKind = iota
	KindEvent
)

func (k ItemKind) String() string {
	if k == KindEvent {
		return "event"
	}
	return "message"
}

// ItemRef names an Outlook item that can carry attachments.
type ItemRef struct {
	Kind ItemKind
	ID   string
}

// path is the item's path below the mailbox prefix, with the id escaped.
func (r ItemRef) path() string {
	if r.Kind == KindEvent {
		return "/events/" + url.PathEscape(r.ID)
	}
	return "/messages/" + url.PathEscape(r.ID)
}

func (r ItemRef) String() string { return fmt.Sprintf("%s %s", r.Kind, shortID(r.ID)) }

// Draft is a message in the Drafts folder.
type Draft struct {
	ID             string
	Subject        string
	Created        time.Time
	LastModified   time.Time
	HasAttachments bool
}

// Event is a calendar event (an occurrence, when listed through calendarView).
type Event struct {
	ID           string
	Subject      string
	Start        time.Time
	End          time.Time
	IsOrganizer  bool
	LastModified time.Time
}

// AttachmentKind is the attachment's OData type, shortened.
type AttachmentKind string

const (
	FileAttachment      AttachmentKind = "file"
	ItemAttachment      AttachmentKind = "item"
	ReferenceAttachment AttachmentKind = "reference"
)

// Attachment is the metadata of an attachment, as listed (without content).
type Attachment struct {
	ID          string
	Name        string
	ContentType string
	Kind        AttachmentKind
	// Size is what Graph lists. It is larger than the content for uploaded files
	// (graph-protocol.md 1.2): never use it as the file length.
	Size         int64
	IsInline     bool
	ContentID    string
	LastModified time.Time
}

// NewAttachment describes an attachment to add.
type NewAttachment struct {
	Name        string
	ContentType string
	Size        int64
	IsInline    bool
	ContentID   string
}

// UploadSession is an attachment upload session. URL is a credential: never log it.
type UploadSession struct {
	URL     string
	Expires time.Time
	// Next is the next byte offset the session expects.
	Next int64
}

// PutResult is what the upload host said after a PUT (or a status GET).
type PutResult struct {
	// Next is the next byte offset the session expects (meaningless once Done).
	Next int64
	// Done is set by the final 201; AttachmentID is then the new attachment's id.
	Done         bool
	AttachmentID string
	Expires      time.Time
}

func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-10:]
	}
	return id
}
