package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests misbehave. It matches requests by host,
// method and path; the Nth matching request and the Count-1 after it are hit.
// A hit request is delayed (Delay), then answered with Status (and Code and
// Retry-After), or has its connection cut after CutAfter body bytes (Cut), or,
// with ApplyThenFail, is carried out normally and then answered with Status
// (default 500) or cut: the ambiguous case where the server has the bytes
// but the client never learns it. Faults apply after authentication and the
// concurrency limit. JSON (POST /_emulator/faults) uses the field tags; delay
// is a Go duration string ("250ms") or nanoseconds.
type Fault struct {
	Host   string `json:"host,omitempty"`   // "graph", "upload", or "" / "any"
	Method string `json:"method,omitempty"` // "" = any
	Path   string `json:"path,omitempty"`   // substring of the URL path (no query); "" = any
	Nth    int    `json:"nth,omitempty"`    // first matching request hit, 1-based; 0 = 1
	Count  int    `json:"count,omitempty"`  // requests hit from the Nth on; 0 = 1, negative = all

	Status     int    `json:"status,omitempty"`
	Code       string `json:"code,omitempty"`       // Graph error code; default from the status
	Message    string `json:"message,omitempty"`    // default: the status text
	RetryAfter string `json:"retryAfter,omitempty"` // Retry-After header, verbatim ("2", "2.128", an HTTP date)

	Cut      bool  `json:"cut,omitempty"`      // close the connection without an answer
	CutAfter int64 `json:"cutAfter,omitempty"` // ... after reading this many body bytes

	Delay         time.Duration `json:"-"`
	ApplyThenFail bool          `json:"applyThenFail,omitempty"`
}

// faultJSON is Fault's wire form, with Delay as text.
type faultJSON struct {
	faultFields
	Delay any `json:"delay,omitempty"`
}

type faultFields Fault

// MarshalJSON writes Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{faultFields: faultFields(f)}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Delay as a duration string or nanoseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault(j.faultFields)
	switch d := j.Delay.(type) {
	case nil:
	case string:
		v, err := time.ParseDuration(d)
		if err != nil {
			return fmt.Errorf("fault delay: %w", err)
		}
		f.Delay = v
	case float64:
		f.Delay = time.Duration(d)
	default:
		return fmt.Errorf("fault delay: want a duration string or nanoseconds, got %T", d)
	}
	return nil
}

func (f *Fault) describe() string {
	var parts []string
	if f.Delay > 0 {
		parts = append(parts, "delay "+f.Delay.String())
	}
	if f.ApplyThenFail {
		parts = append(parts, "apply-then-fail")
	}
	if f.Cut {
		parts = append(parts, fmt.Sprintf("cut after %d bytes", f.CutAfter))
	} else if f.Status != 0 || f.ApplyThenFail {
		parts = append(parts, fmt.Sprintf("status %d", f.status()))
	}
	return strings.Join(parts, ", ")
}

func (f *Fault) status() int {
	if f.Status == 0 {
		return http.StatusInternalServerError
	}
	return f.Status
}

func (f *Fault) matches(host, method, path string) bool {
	if f.Host != "" && !strings.EqualFold(f.Host, "any") && !strings.EqualFold(f.Host, host) {
		return false
	}
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	return strings.Contains(path, f.Path)
}

// faultAnswer answers with the fault's status.
func (e *Emulator) faultAnswer(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	status := f.status()
	code, msg := f.Code, f.Message
	if code == "" {
		code = defaultCode(status)
	}
	if msg == "" {
		msg = http.StatusText(status) + " (injected fault)"
	}
	writeError(w, r, status, code, msg)
}

func defaultCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusGatewayTimeout:
		return "GatewayTimeout"
	case http.StatusNotFound:
		return codeItemNotFound
	case http.StatusForbidden:
		return codeAccessDenied
	case http.StatusUnauthorized:
		return codeInvalidToken
	}
	if status >= 500 {
		return "InternalServerError"
	}
	return codeBadRequest
}

// faultSet holds the injected faults and how often each matched.
type faultSet struct {
	mu     sync.Mutex
	faults []*armedFault
}

type armedFault struct {
	Fault
	seen int // matching requests so far
	hits int
}

// Inject adds a fault. Faults are tried in the order they were added; the
// first one that hits a request applies.
func (e *Emulator) Inject(f Fault) {
	if f.Nth <= 0 {
		f.Nth = 1
	}
	if f.Count == 0 {
		f.Count = 1
	}
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.faults = append(e.faults.faults, &armedFault{Fault: f})
}

// Faults lists the injected faults that may still hit.
func (e *Emulator) Faults() []Fault {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	var out []Fault
	for _, a := range e.faults.faults {
		if a.Count < 0 || a.hits < a.Count {
			out = append(out, a.Fault)
		}
	}
	return out
}

// match counts the request against every fault and returns the one that
// hits it, if any.
func (s *faultSet) match(host, method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hit *Fault
	for _, a := range s.faults {
		if !a.matches(host, method, path) {
			continue
		}
		a.seen++
		if hit == nil && a.seen >= a.Nth && (a.Count < 0 || a.hits < a.Count) {
			a.hits++
			f := a.Fault
			hit = &f
		}
	}
	return hit
}

func (s *faultSet) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}
