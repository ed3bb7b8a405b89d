package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// lazyBody opens an attachment's $value on first read, so a Fill that loses the singleflight
// race never starts a download.
type lazyBody struct {
	open func() (io.ReadCloser, error)
	once sync.Once
	rc   io.ReadCloser
	err  error
}

func (l *lazyBody) Read(p []byte) (int, error) {
	l.once.Do(func() { l.rc, l.err = l.open() })
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyBody) Close() error {
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}

// fillCache makes sure an attachment's whole content is in the content cache.
func (f *FS) fillCache(ctx context.Context, item graph.ItemRef, id string) error {
	c := f.opts.Cache
	if c.Has(id) {
		return nil
	}
	f.fills.beginWhole(id)
	defer f.fills.endWhole(id)
	body := &lazyBody{open: func() (io.ReadCloser, error) {
		rc, _, err := f.opts.Backend.DownloadAttachment(ctx, item, id)
		return rc, err
	}}
	defer body.Close()
	if _, err := c.Fill(ctx, id, body); err != nil {
		return fmt.Errorf("download attachment: %w", err)
	}
	return nil
}

// readAttachment reads an attachment's bytes through the content cache.
func (f *FS) readAttachment(ctx context.Context, item graph.ItemRef, id string, p []byte, off int64) (int, error) {
	if err := f.fillCache(ctx, item, id); err != nil {
		return 0, err
	}
	return f.opts.Cache.ReadAt(id, p, off)
}

// trueSize learns an attachment's real length: from the cache, else from the Content-Length of
// its $value (the body is not read), else by downloading it into the cache.
func (f *FS) trueSize(ctx context.Context, item graph.ItemRef, id string) (int64, error) {
	c := f.opts.Cache
	if n, ok := c.Size(id); ok {
		return n, nil
	}
	rc, n, err := f.opts.Backend.DownloadAttachment(ctx, item, id)
	if err != nil {
		return 0, err
	}
	if n >= 0 {
		rc.Close()
		_ = c.SetSize(id, n)
		return n, nil
	}
	n, err = c.Fill(ctx, id, rc)
	rc.Close()
	return n, err
}

// copyAttachment copies an attachment's bytes into a spool file (a write into the middle of an
// attached file starts from its current content).
func (f *FS) copyAttachment(ctx context.Context, item graph.ItemRef, id string, dst *spool.File) error {
	if err := f.fillCache(ctx, item, id); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := f.opts.Cache.ReadAt(id, buf, off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if isEOF(err) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// referenceText is what a reference attachment (a link to a cloud file) reads as. Graph v1.0
// does not expose the link's target, so the file says what it is and where to open it.
func referenceText(a *graph.Attachment) []byte {
	return []byte(fmt.Sprintf("This is a link attachment (a reference to a file stored in OneDrive or SharePoint),\n"+
		"not a copy of the file. Open the item in Outlook to follow it.\n\nname: %s\ncontent type: %s\nattachment id: %s\n",
		a.Name, a.ContentType, a.ID))
}

// itemExt is the extension an attached item shows with (.eml, .ics, .vcf). Graph lists item
// attachments without a content type, so unless one is given the first bytes of $value decide,
// once per attachment: attachments never change, so the answer is kept in memory and in the
// metadata cache. When the item cannot be read, .eml is shown (and not remembered).
func (f *FS) itemExt(ctx context.Context, item graph.ItemRef, a graph.Attachment) string {
	if ext := itemExtension(a.ContentType); ext != "" {
		return ext
	}
	f.mu.Lock()
	ext, ok := f.exts[a.ID]
	f.mu.Unlock()
	if ok {
		return ext
	}
	key := "ext/" + a.ID
	if f.opts.Cache != nil {
		if _, ok, _ := f.opts.Cache.GetMeta(key, &ext); ok {
			f.rememberExt(a.ID, ext)
			return ext
		}
	}
	rc, n, err := f.opts.Backend.DownloadAttachment(ctx, item, a.ID)
	if err != nil {
		f.log.Warn("cannot tell what kind of item an attachment is; showing it as .eml", "name", a.Name, "err", err)
		return ".eml"
	}
	head := make([]byte, 64)
	got, _ := io.ReadFull(rc, head)
	rc.Close()
	ext = sniffExtension(head[:got])
	if n >= 0 && f.opts.Cache != nil {
		_ = f.opts.Cache.SetSize(a.ID, n)
	}
	f.putMeta(key, ext)
	f.rememberExt(a.ID, ext)
	return ext
}

func (f *FS) rememberExt(id, ext string) {
	f.mu.Lock()
	f.exts[id] = ext
	f.mu.Unlock()
}
