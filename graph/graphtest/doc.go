// Package graphtest is a local, in-memory Microsoft Graph for outlookfs's
// tests, benchmarks and demo: the endpoints, status codes, headers and quirks
// of shared/docs/graph-protocol.md sections 1-4, strict where Graph is strict.
//
// # Hosts
//
// The Graph host (GraphHandler) serves, under /v1.0/me (delegated token) and
// /v1.0/users/{upn} (that user's delegated token, a delegate's, or the app-only
// token):
//
//	GET  mailFolders/drafts                      the Drafts folder
//	GET  mailFolders/drafts/messages, messages   drafts, paged ($top 1..1000, default 10; $select; @odata.nextLink)
//	POST mailFolders/drafts/messages, messages   new draft -> 201
//	GET|PATCH|DELETE messages/{id}
//	GET  mailFolders/drafts/messages/delta       delta rounds (@odata.nextLink, @odata.deltaLink, @removed)
//	GET|POST events, GET|PATCH|DELETE events/{id}
//	GET  calendarView?startDateTime&endDateTime  paged with an opaque $skiptoken
//	GET  calendarView/delta?startDateTime&endDateTime
//	GET|POST {messages|events}/{id}/attachments
//	POST {messages|events}/{id}/attachments/createUploadSession
//	GET|DELETE {messages|events}/{id}/attachments/{aid}   (PATCH, PUT -> 405)
//	GET  {messages|events}/{id}/attachments/{aid}/$value  file bytes, RFC 822, iCalendar, vCard; reference -> 405
//
// and the control endpoints under /_emulator/ (see serveControl), plus what
// Mount adds (the fake identity provider). The upload host (UploadHandler)
// serves the upload URLs, /api/v2.0/Users('upn')/{Messages|Events}('id')/AttachmentSessions('sid')?authtoken=...:
// PUT a range, GET the status, DELETE to cancel.
//
// # Settings
//
// Every [guess] of graph-protocol.md is a field of Options whose zero value is
// the realistic default: KeySpelling, SessionLifetime, ExpiredSessionStatus, RequestLimit,
// RequestLimitDecoded, RequestLimitStatus, TooSmallStatus, MessageSizeLimit,
// MessageSizeExceededStatus, AllowSharedUploadSessions, ListedSize, PageSize,
// MaxConcurrent, RetryAfter, RateLimit, VolumeLimit; the link is Bandwidth and Latency.
//
// # Test hooks
//
// Inject (or POST /_emulator/faults) makes chosen requests fail, hang or have
// their connection cut; ExpireSessions ends every upload session; Requests (or
// GET /_emulator/requests) is the request log, which never holds a query
// string; MaxInFlight tells whether a client kept to the concurrency limit.
package graphtest
