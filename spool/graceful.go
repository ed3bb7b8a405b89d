package spool

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errClosing is the cause with which Close cancels the spool's work.
var errClosing = errors.New("spool: closing")

// requestCtx is the context of one request to Graph within an upload running under ctx.
// When the spool is closing, a request already on the wire may finish (Options.CloseGrace
// at most) and its answer be recorded. When the upload is cancelled because its file was
// removed or renamed, the request is cut at once - unless it is one that creates the
// attachment (creates: the POST, the final PUT): cut, the server may still finish it and
// leave an attachment nobody knows of; let finish, its answer names the attachment, which
// is then deleted (see attached). No request starts once ctx is done.
func (s *Spool) requestCtx(ctx context.Context, creates bool) (context.Context, func()) {
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		cancel(context.Cause(ctx))
		return rctx, func() {}
	}
	var (
		mu    sync.Mutex
		timer *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		if !creates && !errors.Is(context.Cause(ctx), errClosing) {
			cancel(context.Cause(ctx))
			return
		}
		mu.Lock()
		timer = time.AfterFunc(s.opts.CloseGrace, func() { cancel(errClosing) })
		mu.Unlock()
	})
	return rctx, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel(nil)
	}
}
