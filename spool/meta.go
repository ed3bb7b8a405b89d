package spool

import (
	"slices"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// State is where a file is on its way to becoming an attachment.
type State string

const (
	StateWriting   State = "writing"   // a writer holds it open; never uploaded as is
	StateCommitted State = "committed" // the writer closed it and the spool is synced; queued (unless scratch)
	StateUploading State = "uploading" // the upload started; progress is recorded after every accepted PUT
	StateAttached  State = "attached"  // Graph confirmed the attachment; the bytes are dropped
	StateFailed    State = "failed"    // the upload failed for good; Reason says why
)

// FailKind classifies a failed upload.
type FailKind string

const (
	FailTooLarge  FailKind = "too-large"
	FailQuota     FailKind = "quota" // the mailbox is full
	FailForbidden FailKind = "forbidden"
	FailNotFound  FailKind = "not-found"
	FailOther     FailKind = "other"
)

// Meta describes a file held by the spool.
type Meta struct {
	ID           string
	Item         graph.ItemRef
	Name         string
	Scratch      bool
	Size         int64
	State        State
	Mode         uint32
	Mtime        time.Time
	Created      time.Time
	ContentType  string
	Replaces     string // attachment id to delete once this file is attached
	Confirmed    int64  // bytes the server confirmed
	AttachmentID string // once attached
	FailKind     FailKind
	Reason       string // once failed: a sentence a person can act on; while waiting to retry: "retrying: " + the last problem
	Abandoned    bool   // a writing file whose writer died with a previous process
	// Finished is when the file was attached or failed (in memory only: the record keeps FinishedAt).
	Finished time.Time `json:"-"`
}

// CreateOptions describes a new file.
type CreateOptions struct {
	Item        graph.ItemRef
	Name        string
	Scratch     bool
	Replaces    string
	ContentType string
	Mode        uint32
}

// session is a persisted upload session. URL is a credential: never log it.
type session struct {
	URL     string
	Expires time.Time
}

// record is what the spool persists per file, under metaKey(id).
type record struct {
	Meta
	// Session is the upload session in use, once created.
	Session *session `json:",omitempty"`
	// Final is set just before the request that creates the attachment is sent
	// (the final PUT, or the POST of a small file); KnownIDs are then the ids of
	// the item's attachments that already had this name. After a crash or an
	// ambiguous answer, a new attachment with this name is ours.
	Final    bool     `json:",omitempty"`
	KnownIDs []string `json:",omitempty"`
	// FinalAt is when the POST of a small file was about to be sent (see Options.LandingWindow).
	FinalAt time.Time `json:",omitzero"`
	// CommittedAt is when the writer committed (scratch files expire from it).
	CommittedAt time.Time `json:",omitzero"`
	// AbandonedAt is when a new process found the file still writing.
	AbandonedAt time.Time `json:",omitzero"`
	// FinishedAt is when the file was attached or failed.
	FinishedAt time.Time `json:",omitzero"`
	// ReplacePending: attached, but Replaces is not deleted yet.
	ReplacePending bool `json:",omitempty"`
	// Awaited: a synchronous close waits for this upload, so its writer has not been told yet
	// that the file is safe. If the process dies before that close returns, the file is never
	// uploaded by a later process (its cp did not succeed): recover removes it.
	Awaited bool `json:",omitempty"`
	// Restarts counts the new sessions started after a session was lost.
	Restarts int `json:",omitempty"`
}

// clearFinal forgets the request that creates the attachment (sent, answered or superseded).
func (r *record) clearFinal() {
	r.Final, r.KnownIDs, r.FinalAt = false, nil, time.Time{}
}

func (r record) clone() record {
	if r.Session != nil {
		s := *r.Session
		r.Session = &s
	}
	r.KnownIDs = slices.Clone(r.KnownIDs)
	return r
}

// Keys: a file's record is f/<id>/m (JSON); its bytes are in data/<id> (data.go).
const keyRoot = "f/"

func metaKey(id string) []byte { return []byte(keyRoot + id + "/m") }
