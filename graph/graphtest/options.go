package graphtest

import (
	"log/slog"
	"net/http"
	"time"
)

// KeySpelling is how the upload host spells the keys of its JSON bodies
// (graph-protocol.md 1.2: PascalCase in the documented example and the China
// cloud, camelCase elsewhere).
type KeySpelling int

const (
	// CamelCase: "expirationDateTime", "nextExpectedRanges" (the default).
	CamelCase KeySpelling = iota
	// PascalCase: "ExpirationDateTime", "NextExpectedRanges".
	PascalCase
)

// Options are the emulator's settings. The zero value of every field is the
// realistic default; each [guess] of graph-protocol.md is one field here so
// tests can put a client through every plausible behaviour.
type Options struct {
	// UploadBaseURL is the upload host's base URL (scheme://host:port), used to
	// build uploadUrl and Location. Start fills it in; in-process users of
	// UploadHandler must set it themselves.
	UploadBaseURL string

	// KeySpelling of the upload host's 200 bodies. Default CamelCase.
	KeySpelling KeySpelling
	// SessionLifetime of an upload session, fixed at creation. Default 15m.
	SessionLifetime time.Duration
	// ExpiredSessionStatus answers a request to an expired upload session: 404
	// itemNotFound (the default, as OneDrive documents) or 401
	// InvalidAuthenticationToken (the upload URL's authtoken has expired; Outlook
	// documents neither).
	ExpiredSessionStatus int
	// StatusGET is how the upload host answers GET {uploadUrl}, a status request that
	// only OneDrive documents: 200 with where the session stands (the default, as every
	// official SDK assumes), or 404 / 405 for every such GET (what Outlook may answer).
	StatusGET int
	// FinalPUTJSON answers the final range of an upload session 200 with the attachment's
	// JSON and no Location, as some hosts do, instead of the documented 201 with Location.
	FinalPUTJSON bool

	// RequestLimit is the largest Graph request body accepted. Default 4 MiB.
	RequestLimit int64
	// RequestLimitDecoded counts the decompressed body of a gzip'ed request
	// against RequestLimit instead of the bytes on the wire (the default).
	RequestLimitDecoded bool
	// RequestLimitStatus is the answer to a body over RequestLimit, as Graph has been seen
	// to answer: 400 BadRequest with RequestLimitMessage (the default), 413
	// RequestEntityTooLarge, or 500 with an empty body.
	RequestLimitStatus int
	// RequestLimitMessage is the message of that 400 (and 413): default "Maximum request
	// length exceeded." (IIS); Graph also says "The maximum request length supported is 4MB.".
	RequestLimitMessage string

	// TooSmallStatus answers createUploadSession for a size under 3 MiB
	// (ErrorAttachmentSizeShouldNotBeLessThanMinimumSize). Default 400.
	TooSmallStatus int
	// MessageSizeLimit is the default mailbox message size limit: an item's
	// attachments' bytes may not exceed it. Default 35 MiB (35*1024*1024).
	// Mailbox.SetMessageSizeLimit overrides it per mailbox.
	MessageSizeLimit int64
	// MessageSizeEncoded counts the message size limit on the attachments' encoded size
	// (base64 in 76-character lines plus MIME headers, as Exchange's transport counts a
	// message) instead of their bytes (the default). Public reports disagree on which count the
	// upload path applies: the fs's too-large tests run under both.
	MessageSizeEncoded bool
	// MessageSizeExceededStatus answers ErrorMessageSizeExceeded. Default 400.
	MessageSizeExceededStatus int

	// AllowSharedUploadSessions lets delegated tokens create upload sessions
	// on shared/delegated mailboxes. Default false: 403, as documented.
	AllowSharedUploadSessions bool

	// ListedSize maps a file attachment's byte length to the `size` Graph
	// lists for it. Default n + n*9/200 + 158 (20 bytes list as 178, as in
	// Microsoft's example; always larger than the bytes).
	ListedSize func(n int64) int64

	// PageSize is the default $top. Default 10. $top may be 1..MaxPageSize.
	PageSize int
	// MaxPageSize is the largest $top accepted. Default 1000.
	MaxPageSize int
	// DeltaGenerations is how many of a mailbox's latest delta rounds (deltaLinks issued) keep
	// their tokens valid; an older $deltatoken or $skiptoken gets 410 SyncStateNotFound, as
	// Graph's sync states age. Default 8.
	DeltaGenerations int

	// MaxConcurrent is the number of requests a mailbox may have in flight
	// (Graph and upload host together); one more gets 429 ApplicationThrottled.
	// Default 4; negative means unlimited.
	MaxConcurrent int
	// RetryAfter is the Retry-After value sent with 429s, verbatim (integer,
	// fractional or HTTP date). Default "1".
	RetryAfter string
	// VolumeLimit, when positive, caps the bytes of POST/PUT/PATCH bodies per
	// mailbox within VolumeWindow (Graph documents 150 MB per 5 minutes);
	// over it: 429. Default 0: no volume limit.
	VolumeLimit int64
	// VolumeWindow is the sliding window of VolumeLimit. Default 5m.
	VolumeWindow time.Duration
	// RateLimit caps the requests admitted per mailbox (Graph and upload host
	// together) within RateWindow; one more gets 429 with a Retry-After of
	// when the oldest request counted leaves the window. Default 10,000 (per
	// 10 minutes, as Graph documents); negative means unlimited.
	RateLimit int
	// RateWindow is the sliding window of RateLimit. Default 10m.
	RateWindow time.Duration

	// Bandwidth, when positive, is the simulated link's rate in bytes per
	// second, shared by every connection and both directions (request and
	// response bodies). Default 0: unlimited.
	Bandwidth int64
	// Latency is added once to every request (simulated round trip).
	Latency time.Duration

	// RequestLogLimit is how many records the request log keeps (oldest
	// dropped first). Default 10000.
	RequestLogLimit int

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the emulator's own diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Size limits from graph-protocol.md.
const (
	minUploadSize      = 3 << 20   // smallest upload session (3 MiB)
	maxUploadSize      = 150 << 20 // largest attachment (150 MB)
	maxRangeSize       = 4 << 20   // largest PUT range (4 MiB)
	maxDecodedBodySize = 256 << 20 // bound on a decompressed request body
)

func (o Options) withDefaults() Options {
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 15 * time.Minute
	}
	if o.RequestLimit <= 0 {
		o.RequestLimit = 4 << 20
	}
	if o.RequestLimitStatus == 0 {
		o.RequestLimitStatus = http.StatusBadRequest
	}
	if o.RequestLimitMessage == "" {
		o.RequestLimitMessage = msgMaxRequestLength
	}
	if o.ExpiredSessionStatus == 0 {
		o.ExpiredSessionStatus = 404
	}
	if o.StatusGET == 0 {
		o.StatusGET = http.StatusOK
	}
	if o.TooSmallStatus == 0 {
		o.TooSmallStatus = 400
	}
	if o.MessageSizeLimit <= 0 {
		o.MessageSizeLimit = 35 << 20
	}
	if o.MessageSizeExceededStatus == 0 {
		o.MessageSizeExceededStatus = 400
	}
	if o.ListedSize == nil {
		o.ListedSize = defaultListedSize
	}
	if o.PageSize <= 0 {
		o.PageSize = 10
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = 1000
	}
	if o.DeltaGenerations <= 0 {
		o.DeltaGenerations = 8
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = 4
	}
	if o.RetryAfter == "" {
		o.RetryAfter = "1"
	}
	if o.VolumeWindow <= 0 {
		o.VolumeWindow = 5 * time.Minute
	}
	if o.RateLimit == 0 {
		o.RateLimit = 10_000
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 10 * time.Minute
	}
	if o.RequestLogLimit <= 0 {
		o.RequestLogLimit = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func defaultListedSize(n int64) int64 { return n + n*9/200 + 158 }
