package graphtest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// load is a mailbox's concurrency, request-rate and upload-volume accounting
// (Outlook limits per app and mailbox, graph-protocol.md 4).
type load struct {
	mu          sync.Mutex
	inFlight    int
	maxSeen     int
	maxAdmitted int
	throttled   int
	volume      []volumeEntry
	admitted    []time.Time // arrivals counted against RateLimit, oldest first
}

type volumeEntry struct {
	at time.Time
	n  int64
}

// LoadStats are a mailbox's counters since the last Reset.
type LoadStats struct {
	InFlight    int `json:"inFlight"`
	MaxInFlight int `json:"maxInFlight"` // highest count at an arrival, the arriving request included (admitted or not)
	MaxAdmitted int `json:"maxAdmitted"` // highest count of admitted requests in flight
	Throttled   int `json:"throttled"`   // requests refused with 429
}

func (l *load) stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LoadStats{InFlight: l.inFlight, MaxInFlight: l.maxSeen, MaxAdmitted: l.maxAdmitted, Throttled: l.throttled}
}

func (l *load) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxSeen, l.maxAdmitted, l.throttled = l.inFlight, l.inFlight, 0
	l.volume = nil
	l.admitted = nil
}

// admit counts an arriving request. When it is over a limit it returns false
// with the Retry-After value and message of the 429.
func (l *load) admit(o Options, r *http.Request, now time.Time) (bool, string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.inFlight + 1
	l.maxSeen = max(l.maxSeen, n)
	if o.MaxConcurrent > 0 && n > o.MaxConcurrent {
		l.throttled++
		return false, o.RetryAfter, msgConcurrency
	}
	if o.RateLimit > 0 {
		cut := now.Add(-o.RateWindow)
		i := 0
		for i < len(l.admitted) && !l.admitted[i].After(cut) {
			i++
		}
		l.admitted = l.admitted[i:]
		if len(l.admitted) >= o.RateLimit {
			l.throttled++
			wait := l.admitted[0].Add(o.RateWindow).Sub(now)
			return false, strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))), msgRate
		}
	}
	if o.VolumeLimit > 0 && isUpload(r.Method) {
		cut := now.Add(-o.VolumeWindow)
		kept := l.volume[:0]
		var sum int64
		for _, v := range l.volume {
			if v.at.After(cut) {
				kept = append(kept, v)
				sum += v.n
			}
		}
		l.volume = kept
		size := max(r.ContentLength, 0)
		if sum+size > o.VolumeLimit && len(l.volume) > 0 {
			l.throttled++
			wait := l.volume[0].at.Add(o.VolumeWindow).Sub(now)
			return false, strconv.Itoa(int(math.Ceil(wait.Seconds()))), msgVolume
		}
		l.volume = append(l.volume, volumeEntry{at: now, n: size})
	}
	if o.RateLimit > 0 {
		l.admitted = append(l.admitted, now)
	}
	l.inFlight = n
	l.maxAdmitted = max(l.maxAdmitted, n)
	return true, "", ""
}

func (l *load) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
}

func isUpload(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}
