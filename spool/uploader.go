package spool

import (
	"context"
	"io"

	"github.com/outlookfs/outlookfs/graph"
)

// Uploader is what the spool needs from Graph; *graph.Client satisfies it.
// Retries of throttled and failed requests happen inside it: the spool sees
// only final outcomes.
type Uploader interface {
	AddSmallAttachment(ctx context.Context, item graph.ItemRef, a graph.NewAttachment, data []byte) (graph.Attachment, error)
	CreateUploadSession(ctx context.Context, item graph.ItemRef, a graph.NewAttachment) (graph.UploadSession, error)
	PutRange(ctx context.Context, s graph.UploadSession, off int64, data []byte, total int64) (graph.PutResult, error)
	UploadStatus(ctx context.Context, s graph.UploadSession) (graph.PutResult, error)
	CancelUpload(ctx context.Context, s graph.UploadSession) error
	ListAttachments(ctx context.Context, item graph.ItemRef) ([]graph.Attachment, error)
	DeleteAttachment(ctx context.Context, item graph.ItemRef, id string) error
}

var _ Uploader = (*graph.Client)(nil)

// ContentKeeper keeps the content of attachments; *cache.Cache satisfies it. Fill stores all of
// r as attachment id's content.
type ContentKeeper interface {
	Fill(ctx context.Context, id string, r io.Reader) (int64, error)
}
