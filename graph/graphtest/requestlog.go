package graphtest

import (
	"sync"
	"time"
)

// RequestRecord is one request as the emulator saw it. It never holds a
// query string, a token or an upload URL's authtoken.
type RequestRecord struct {
	Host     string    `json:"host"` // "graph" or "upload"
	Method   string    `json:"method"`
	Proto    string    `json:"proto"` // "HTTP/1.1" or "HTTP/2.0"
	Path     string    `json:"path"`  // URL path only, never the query
	Range    string    `json:"range,omitempty"`
	Mailbox  string    `json:"mailbox,omitempty"`
	Status   int       `json:"status"` // 0: the connection was cut
	Fault    string    `json:"fault,omitempty"`
	BytesIn  int64     `json:"bytesIn"` // request body bytes read, as on the wire
	BytesOut int64     `json:"bytesOut"`
	Gzip     bool      `json:"gzip,omitempty"` // the answer was gzip'ed (the client accepted it)
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
}

// requestLog keeps the latest records, up to limit.
type requestLog struct {
	mu      sync.Mutex
	limit   int
	records []RequestRecord
}

func (l *requestLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit > 0 && len(l.records) >= l.limit {
		n := copy(l.records, l.records[len(l.records)-l.limit+1:])
		l.records = l.records[:n]
	}
	l.records = append(l.records, r)
}

func (l *requestLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = nil
}

// Requests returns the request log, oldest first (also GET /_emulator/requests).
func (e *Emulator) Requests() []RequestRecord {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	return append([]RequestRecord(nil), e.log.records...)
}
