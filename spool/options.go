package spool

import (
	"log/slog"
	"time"

	"github.com/outlookfs/outlookfs/graph"
)

// ChunkSize is the size of one stored chunk and of one upload PUT: chunk i is PUT i.
const ChunkSize = graph.MaxRangeSize

// Defaults of Options.
const (
	DefaultWorkers       = 4
	DefaultScratchTTL    = time.Hour
	DefaultAbandonedTTL  = 24 * time.Hour
	DefaultLandingWindow = time.Minute
	DefaultCloseGrace    = 15 * time.Second
)

// Options configures a Spool.
type Options struct {
	Dir          string        // spool directory, created 0700 ($XDG_STATE_HOME/outlookfs/<profile>/spool)
	Uploader     Uploader      // nil: files are held and committed but never uploaded
	Logger       *slog.Logger  // nil: discarded
	MaxBytes     int64         // spool size limit (0 = none): writes past it fail with ErrNoSpace
	MaxFileSize  int64         // default graph.MaxAttachmentSize: WriteAt/Truncate past it fail with ErrFileTooBig
	SmallLimit   int64         // files under it go in one POST; default graph.MinUploadSessionSize
	Workers      int           // uploads at once; default 4
	ScratchTTL   time.Duration // closed scratch files expire; default 1h
	AbandonedTTL time.Duration // never-closed files from a crashed run are kept visible this long; default 24h
	// CloseGrace bounds how long Close lets a request already on the wire finish; default 15s.
	// Cutting one leaves its outcome unknown: the server may still create the attachment after
	// we stopped listening, and a restart right away might not see it yet and attach it twice.
	CloseGrace time.Duration
	// LandingWindow is how long after a POST of a small file was sent that POST may still
	// create its attachment though its sender is gone: the body it handed to the kernel goes
	// on to the server after a kill -9, and the server answers nobody. A new process that
	// finds such a POST unanswered looks for its attachment until then before sending the
	// file again; default 1 minute (a 3 MiB body over a 50 kB/s uplink).
	LandingWindow time.Duration
	// Content, when set, is handed the bytes of each file Graph attached, before they are
	// dropped: the mount gives its content cache, so that reading back (or rewriting) what was
	// just uploaded asks Graph for nothing. Its failures only cost a later download.
	Content ContentKeeper
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = graph.MaxAttachmentSize
	}
	if o.SmallLimit <= 0 {
		o.SmallLimit = graph.MinUploadSessionSize
	}
	o.SmallLimit = min(o.SmallLimit, ChunkSize) // a small file is read into one chunk buffer
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ScratchTTL <= 0 {
		o.ScratchTTL = DefaultScratchTTL
	}
	if o.AbandonedTTL <= 0 {
		o.AbandonedTTL = DefaultAbandonedTTL
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = DefaultCloseGrace
	}
	if o.LandingWindow <= 0 {
		o.LandingWindow = DefaultLandingWindow
	}
	return o
}

// Tuning that is not a setting.
const (
	// finishedTTL: how long attached files stay visible in memory (Get, Wait, All)
	// after their keys were dropped from the database.
	finishedTTL = 10 * time.Minute
	// janitorInterval: how often expiry and Badger's value-log GC run when nothing asks for them.
	janitorInterval = 5 * time.Minute
	// maxRetryDelay bounds the wait between two attempts of an upload after a transient failure.
	maxRetryDelay = 5 * time.Minute
	// maxServerRetryAfter bounds how long a server's Retry-After may delay the next attempt.
	maxServerRetryAfter = 15 * time.Minute
	// maxRestarts bounds the new sessions one upload may start after its session was lost.
	maxRestarts = 5
)
