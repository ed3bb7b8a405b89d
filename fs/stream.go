package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// stream serves one open file's sequential reads of an attachment straight from its $value
// download, while the same bytes fill the content cache: the first bytes come as soon as Graph
// sends them, not after the whole attachment. A read that goes backwards, or comes after the
// download ended, is served from the cache once the download is complete. Closing the file
// before the end abandons the download (nothing half-cached).
//
// mu serialises the reads of this one descriptor, across the network read that serves them;
// nothing else waits for it (the mount asks the kernel for one read at a time per file).
type stream struct {
	fs   *FS
	item graph.ItemRef
	id   string

	mu      sync.Mutex
	started bool
	body    io.ReadCloser
	feed    chan []byte // copies of what was read, for the cache's Fill; nil once teeing stopped
	pw      *io.PipeWriter
	pos     int64         // offset of the next byte of body
	done    chan struct{} // closed when Fill returned
}

// teeWait bounds how long a read waits for the cache to take its bytes. The cache's Fill may be
// waiting for another download of the same attachment (it fills once), which may itself wait for
// a page this read holds in the kernel: past this, the read stops feeding the cache and goes on.
const teeWait = 2 * time.Second

var errAbandoned = errors.New("read abandoned before the end of the attachment")

func (s *stream) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.fs.opts.Cache
	if c.Has(s.id) {
		return c.ReadAt(s.id, p, off)
	}
	if !s.started {
		if off != 0 {
			return s.fs.readAttachment(ctx, s.item, s.id, p, off)
		}
		if err := s.start(); err != nil {
			return 0, err
		}
	}
	if s.body == nil || off < s.pos {
		return s.fromCache(ctx, p, off)
	}
	if off > s.pos { // a gap: skip ahead, still feeding the cache
		if _, err := io.CopyN(io.Discard, s, off-s.pos); err != nil {
			return 0, s.end(err)
		}
	}
	n, err := io.ReadFull(s, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, s.end(io.EOF)
	}
	if err != nil {
		return n, s.end(err)
	}
	return n, nil
}

// start opens $value and begins filling the cache from it, unless a whole download of the same
// attachment is filling it already. Called with mu held.
func (s *stream) start() error {
	s.started = true
	body, _, err := s.fs.opts.Backend.DownloadAttachment(context.Background(), s.item, s.id)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	s.pw = pw // before it is registered: a whole download must be able to stop it
	if !s.fs.fills.addStream(s) {
		s.body, s.pw = body, nil // read it, but leave the cache to the download in progress
		return nil
	}
	s.body, s.feed, s.done = body, make(chan []byte, 4), make(chan struct{})
	go func(feed <-chan []byte) { // hands the copies to Fill; a closed feed ends it
		for b := range feed {
			if _, err := pw.Write(b); err != nil {
				for range feed { // Fill gave up: drain so the reader never blocks
				}
				return
			}
		}
		pw.Close()
	}(s.feed)
	go func() {
		if _, err := s.fs.opts.Cache.Fill(context.Background(), s.id, pr); err != nil {
			s.fs.log.Debug("attachment not cached", "id", s.id, "err", err)
		}
		// Whatever Fill did (another download of the same attachment may have filled the
		// cache), stop taking bytes: reads go on from the body alone.
		pr.CloseWithError(errAbandoned)
		close(s.done)
	}()
	return nil
}

// Read reads the body and tees what it read into the cache's Fill. Called with mu held.
func (s *stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if n > 0 {
		s.pos += int64(n)
		if s.feed != nil {
			select {
			case s.feed <- append([]byte(nil), p[:n]...):
			case <-time.After(teeWait):
				s.stopFeed(false)
			}
		}
	}
	return n, err
}

// stopFeed ends the copies to the cache: complete (the whole body was read) or not. A feed
// ended incomplete makes Fill fail, so nothing half-read is cached. Called with mu held.
func (s *stream) stopFeed(complete bool) {
	if s.feed == nil {
		return
	}
	if !complete {
		s.pw.CloseWithError(errAbandoned) // also unblocks the feeder's write in progress
	}
	close(s.feed)
	s.feed = nil
}

// end finishes the download: at io.EOF the cache's Fill completes; on an error it is
// abandoned. It returns err for the caller to pass on. Called with mu held.
func (s *stream) end(err error) error {
	if s.body == nil {
		return err
	}
	s.body.Close()
	s.body = nil
	s.stopFeed(err == io.EOF)
	s.fs.fills.removeStream(s)
	if err == io.EOF {
		s.awaitFill() // returns at once for a stream that never fed the cache (see start)
	}
	return err
}

// awaitFill waits for this stream's Fill to return, for teeWait at most. The Fill may be
// waiting for another descriptor's fill of the same attachment (the cache fills once), which
// needs that descriptor's reads; the kernel may hold those back behind a page this read keeps
// locked, or serve them from pages this descriptor brought in, so that they never reach its
// stream. Waiting longer would hang both readers for good; past teeWait the read goes on
// without the cache (fromCache then downloads the attachment whole, stopping the other fills).
func (s *stream) awaitFill() {
	if s.done == nil {
		return
	}
	t := time.NewTimer(teeWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	}
}

// fromCache serves a read the stream cannot: it reads the download to its end (filling the
// cache), then reads the cache; if the cache could not be filled, it downloads through it anew.
func (s *stream) fromCache(ctx context.Context, p []byte, off int64) (int, error) {
	if s.body != nil {
		_, err := io.Copy(io.Discard, s)
		if err != nil {
			s.end(err)
		} else {
			s.end(io.EOF)
		}
	}
	s.awaitFill()
	return s.fs.readAttachment(ctx, s.item, s.id, p, off)
}

// close abandons an unfinished download.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(errAbandoned)
}

// fills keeps track of who is filling the cache with which attachment, so that a reader never
// waits for another reader: a whole download (FS.fillCache, for a read that does not follow the
// stream) first stops the streams feeding the cache with the same attachment, and no stream
// starts feeding it while such a download runs. (Waiting would deadlock: the kernel may hold a
// page of the file locked for the waiting read while the stream's reader needs that page.)
type fills struct {
	mu      sync.Mutex
	streams map[string]map[*stream]bool
	whole   map[string]int
}

// addStream registers a stream that will feed the cache; false when a whole download of the
// attachment is running (the stream then does not feed the cache).
func (f *fills) addStream(s *stream) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.whole[s.id] > 0 {
		return false
	}
	if f.streams == nil {
		f.streams = map[string]map[*stream]bool{}
	}
	if f.streams[s.id] == nil {
		f.streams[s.id] = map[*stream]bool{}
	}
	f.streams[s.id][s] = true
	return true
}

func (f *fills) removeStream(s *stream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.streams[s.id], s)
	if len(f.streams[s.id]) == 0 {
		delete(f.streams, s.id)
	}
}

// beginWhole stops the streams feeding the cache with id and keeps new ones from starting to,
// until endWhole.
func (f *fills) beginWhole(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.whole == nil {
		f.whole = map[string]int{}
	}
	f.whole[id]++
	for s := range f.streams[id] {
		if s.pw != nil {
			s.pw.CloseWithError(errAbandoned) // its Fill fails; the whole download fills instead
		}
	}
}

func (f *fills) endWhole(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.whole[id]--; f.whole[id] <= 0 {
		delete(f.whole, id)
	}
}
