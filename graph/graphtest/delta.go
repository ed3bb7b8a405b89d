package graphtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// deltaState is what a delta $skiptoken or $deltatoken carries: the round's
// changes are those with since < seq <= upTo, returned in seq order after
// the seq `after`. Items changed while a round is paged move past upTo and
// come in the next round, so nothing is skipped.
type deltaState struct {
	Kind   string `json:"k"`
	Since  uint64 `json:"s"`
	UpTo   uint64 `json:"u"`
	After  uint64 `json:"a"`
	Select string `json:"sel,omitempty"`
	Start  int64  `json:"st,omitempty"` // calendarView window (unix seconds)
	End    int64  `json:"en,omitempty"`
	Gen    uint64 `json:"g,omitempty"` // the mailbox's delta generation the round belongs to
}

func (d deltaState) encode() string {
	b, _ := json.Marshal(d)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeDelta(s string) (deltaState, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return deltaState{}, false
	}
	var d deltaState
	return d, json.Unmarshal(b, &d) == nil
}

// change is one entry of a delta round.
type change struct {
	seq     uint64
	item    StoredItem
	id      string
	removed bool
}

// changes lists the changes to items of kind with since < seq <= upTo and
// seq > after, by seq. Deletions are listed only when since > 0.
func (m *Mailbox) changes(kind string, since, upTo, after uint64) []change {
	m.mu.Lock()
	defer m.mu.Unlock()
	lo := max(since, after)
	var out []change
	for _, it := range m.items {
		if it.Kind == kind && it.seq > lo && it.seq <= upTo {
			out = append(out, change{seq: it.seq, item: it.StoredItem, id: it.ID})
		}
	}
	if since > 0 {
		for _, t := range m.tombstones {
			if t.kind == kind && t.seq > lo && t.seq <= upTo {
				out = append(out, change{seq: t.seq, id: t.id, removed: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (m *Mailbox) currentSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

var maxPageSizeRE = regexp.MustCompile(`odata\.maxpagesize\s*=\s*(\d+)`)

// deltaPageSize reads Prefer: odata.maxpagesize or $top.
func deltaPageSize(c *call) int {
	n := c.e.opts.PageSize
	for _, p := range c.r.Header.Values("Prefer") {
		if m := maxPageSizeRE.FindStringSubmatch(p); m != nil {
			if v, err := strconv.Atoi(m[1]); err == nil && v > 0 {
				n = v
			}
		}
	}
	if v, ok := queryParam(c.r.URL.Query(), "top"); ok {
		if t, err := strconv.Atoi(v); err == nil && t > 0 {
			n = t
		}
	}
	return min(n, c.e.opts.MaxPageSize)
}

// deltaRound reads the request's delta tokens: a new round (no token), a
// page of a round ($skiptoken) or a new round from a deltaLink
// ($deltatoken). On a bad or stale token it answers 410 and returns false.
func deltaRound(c *call, kind string) (deltaState, bool, bool) {
	q := c.r.URL.Query()
	cur := c.mb.currentSeq()
	gen, oldest := c.mb.deltaGen(c.e.opts.DeltaGenerations)
	if v, ok := queryParam(q, "skiptoken"); ok {
		d, good := decodeDelta(v)
		if !good || d.Kind != kind || d.UpTo > cur || d.Gen < oldest {
			syncStateNotFound(c)
			return d, false, false
		}
		return d, true, true
	}
	if v, ok := queryParam(q, "deltatoken"); ok {
		d, good := decodeDelta(v)
		if !good || d.Kind != kind || d.UpTo > cur || d.Gen < oldest {
			syncStateNotFound(c)
			return d, false, false
		}
		return deltaState{Kind: kind, Since: d.UpTo, UpTo: cur, After: d.UpTo, Select: d.Select, Start: d.Start, End: d.End, Gen: gen}, true, true
	}
	sel, _ := queryParam(q, "select")
	return deltaState{Kind: kind, UpTo: cur, Select: sel, Gen: gen}, false, true
}

// deltaGen returns the mailbox's current delta generation and the oldest one whose tokens
// are still valid.
func (m *Mailbox) deltaGen(keep int) (cur, oldest uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest = m.deltaFloor
	if m.deltaGens >= uint64(keep) {
		oldest = max(oldest, m.deltaGens-uint64(keep)+1)
	}
	return m.deltaGens, oldest
}

// nextDeltaGen starts a new generation when a round ends (a deltaLink is issued).
func (m *Mailbox) nextDeltaGen() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deltaGens++
	return m.deltaGens
}

// ExpireDeltaTokens makes every delta token issued so far stale (410 SyncStateNotFound), as
// when Graph drops a mailbox's sync states (also POST /_emulator/expire-delta).
func (e *Emulator) ExpireDeltaTokens() {
	for _, m := range e.allMailboxes() {
		m.mu.Lock()
		m.deltaGens++
		m.deltaFloor = m.deltaGens
		m.mu.Unlock()
	}
}

func syncStateNotFound(c *call) {
	writeError(c.w, c.r, http.StatusGone, codeSyncNotFound, "The sync state is not found or has expired: resync required.")
}

// draftsDelta answers GET mailFolders/drafts/messages/delta.
func (e *Emulator) draftsDelta(c *call) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c, "GET")
		return
	}
	d, _, ok := deltaRound(c, kindMessage)
	if !ok {
		return
	}
	e.deltaPage(c, d, "microsoft.graph.message", messageProps, messageJSON, nil)
}

// calendarViewDelta answers GET calendarView/delta?startDateTime&endDateTime.
func (e *Emulator) calendarViewDelta(c *call) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c, "GET")
		return
	}
	d, fromToken, ok := deltaRound(c, kindEvent)
	if !ok {
		return
	}
	if !fromToken { // a new round: the window comes from the query
		if _, ok := queryParam(c.r.URL.Query(), "select"); ok {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest,
				"The query parameter '$select' is not supported with change tracking over the 'CalendarView' resource.")
			return
		}
		start, end, ok := viewWindow(c)
		if !ok {
			return
		}
		d.Start, d.End = start.Unix(), end.Unix()
	}
	start, end := time.Unix(d.Start, 0), time.Unix(d.End, 0)
	loc := preferredZone(c.r)
	render := func(it StoredItem) map[string]any { return eventJSON(it, loc, c.mb.upn) }
	inWindow := func(it StoredItem) bool { return it.Start.Before(end) && it.End.After(start) }
	e.deltaPage(c, d, "microsoft.graph.event", eventProps, render, inWindow)
}

// deltaPage answers one page of a delta round.
func (e *Emulator) deltaPage(c *call, d deltaState, typ string, props []string,
	render func(StoredItem) map[string]any, keep func(StoredItem) bool) {
	// $select travels in the token, as Graph's does.
	q := c.r.URL.Query()
	q.Set("$select", d.Select)
	if d.Select == "" {
		q.Del("$select")
	}
	for k := range q {
		if k == "select" {
			q.Del(k)
		}
	}
	c.r.URL.RawQuery = q.Encode()
	sel, ok := parseSelect(c, typ, props)
	if !ok {
		return
	}
	size := deltaPageSize(c)
	all := c.mb.changes(d.Kind, d.Since, d.UpTo, d.After)
	value := make([]map[string]any, 0, size)
	for _, ch := range all {
		if len(value) == size {
			break
		}
		d.After = ch.seq
		if ch.removed {
			value = append(value, map[string]any{
				"@odata.type": "#" + typ, "id": ch.id, "@removed": map[string]any{"reason": "deleted"},
			})
			continue
		}
		if keep != nil && !keep(ch.item) {
			continue
		}
		value = append(value, project(render(ch.item), sel))
	}
	more := len(all) > 0 && d.After < all[len(all)-1].seq
	link := baseURL(c.r) + c.r.URL.EscapedPath()
	body := map[string]any{"@odata.context": metadataURL(c) + "/" + d.Kind + "s/delta", "value": value}
	if more {
		body["@odata.nextLink"] = link + "?$skiptoken=" + d.encode()
	} else {
		d.Since, d.After = d.UpTo, d.UpTo
		d.Gen = c.mb.nextDeltaGen()
		body["@odata.deltaLink"] = link + "?$deltatoken=" + d.encode()
	}
	writeJSON(c.w, http.StatusOK, body)
}
