package graphtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// controlPrefix is where the emulator's own endpoints live on the Graph host.
// They bypass authentication, throttling, faults and the request log.
const controlPrefix = "/_emulator/"

// serveControl serves:
//
//	POST   /_emulator/faults           a Fault or a JSON array of them -> 204
//	GET    /_emulator/faults           the faults that may still hit
//	DELETE /_emulator/faults           forget them -> 204
//	POST   /_emulator/expire-sessions  every open upload session expires -> 204
//	POST   /_emulator/expire-delta     every delta token issued so far is stale (410) -> 204
//	GET    /_emulator/requests         the request log
//	POST   /_emulator/reset            forget faults, log and counters -> 204
//	GET    /_emulator/stats            per-mailbox concurrency counters, and requests in flight
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, controlPrefix), "/")
	switch route {
	case "POST faults":
		faults, err := decodeFaults(r.Body)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, codeBadRequest, "graphtest: bad fault: "+err.Error())
			return
		}
		for _, f := range faults {
			e.Inject(f)
		}
		w.WriteHeader(http.StatusNoContent)
	case "GET faults":
		faults := e.Faults()
		if faults == nil {
			faults = []Fault{}
		}
		writeJSON(w, http.StatusOK, faults)
	case "DELETE faults":
		e.faults.clear()
		w.WriteHeader(http.StatusNoContent)
	case "POST expire-delta":
		e.ExpireDeltaTokens()
		w.WriteHeader(http.StatusNoContent)
	case "POST expire-sessions":
		e.ExpireSessions()
		w.WriteHeader(http.StatusNoContent)
	case "GET requests":
		recs := e.Requests()
		if recs == nil {
			recs = []RequestRecord{}
		}
		writeJSON(w, http.StatusOK, recs)
	case "POST reset":
		e.Reset()
		w.WriteHeader(http.StatusNoContent)
	case "GET stats":
		writeJSON(w, http.StatusOK, map[string]any{"mailboxes": e.Stats(), "inFlight": e.InFlight()})
	default:
		writeError(w, r, http.StatusNotFound, codeBadRequest, "graphtest: no such control endpoint: "+route)
	}
}

// decodeFaults reads one Fault or an array of them.
func decodeFaults(r io.Reader) ([]Fault, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var fs []Fault
		err := json.Unmarshal(b, &fs)
		return fs, err
	}
	var f Fault
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return []Fault{f}, nil
}

// InFlight returns how many requests the emulator is serving now: received (their headers
// read) and not yet in the request log. A test waits for 0 to know that a request cut off by
// its client's death has ended one way or the other.
func (e *Emulator) InFlight() int64 { return e.inFlight.Load() }

// Stats returns every mailbox's concurrency counters, by UPN.
func (e *Emulator) Stats() map[string]LoadStats {
	mbs := e.allMailboxes()
	out := make(map[string]LoadStats, len(mbs))
	for _, m := range mbs {
		out[m.upn] = m.load.stats()
	}
	return out
}
