package graphtest

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

// eventProps are the event properties $select may name.
var eventProps = []string{
	"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "subject", "bodyPreview",
	"body", "start", "end", "isAllDay", "isCancelled", "isOrganizer", "type", "seriesMasterId",
	"hasAttachments", "organizer", "location", "webLink", "showAs", "responseStatus",
}

const otherOrganizer = "organizer@outlookfs.test"

// eventJSON renders an event with its times in loc.
func eventJSON(it StoredItem, loc *time.Location, upn string) map[string]any {
	organizer := map[string]any{"emailAddress": map[string]any{"name": "Other Organizer", "address": otherOrganizer}}
	if it.IsOrganizer {
		organizer = map[string]any{"emailAddress": map[string]any{"name": upn, "address": upn}}
	}
	response := "organizer"
	if !it.IsOrganizer {
		response = "accepted"
	}
	zone := loc.String()
	return map[string]any{
		"@odata.etag":          `W/"` + changeKey(it) + `"`,
		"id":                   it.ID,
		"createdDateTime":      graphTime(it.Created),
		"lastModifiedDateTime": graphTime(it.Modified),
		"changeKey":            changeKey(it),
		"categories":           []string{},
		"subject":              it.Subject,
		"bodyPreview":          it.Body,
		"body":                 map[string]any{"contentType": "text", "content": it.Body},
		"start":                map[string]any{"dateTime": it.Start.In(loc).Format(eventTimeLayout), "timeZone": zone},
		"end":                  map[string]any{"dateTime": it.End.In(loc).Format(eventTimeLayout), "timeZone": zone},
		"isAllDay":             false,
		"isCancelled":          false,
		"isOrganizer":          it.IsOrganizer,
		"type":                 "singleInstance",
		"seriesMasterId":       nil,
		"hasAttachments":       it.HasAttachments,
		"organizer":            organizer,
		"location":             map[string]any{"displayName": ""},
		"webLink":              "https://outlook.office365.com/owa/?itemid=" + it.ID + "&exvsurl=1&path=/calendar/item",
		"showAs":               "busy",
		"responseStatus":       map[string]any{"response": response, "time": "0001-01-01T00:00:00Z"},
	}
}

const eventTimeLayout = "2006-01-02T15:04:05.0000000"

var preferZoneRE = regexp.MustCompile(`outlook\.timezone\s*=\s*"([^"]*)"`)

// preferredZone honours `Prefer: outlook.timezone="..."` for IANA names and
// UTC; other names (Windows zones) fall back to UTC.
func preferredZone(r *http.Request) *time.Location {
	for _, p := range r.Header.Values("Prefer") {
		if m := preferZoneRE.FindStringSubmatch(p); m != nil {
			if loc, err := time.LoadLocation(m[1]); err == nil && m[1] != "" && m[1] != "Local" {
				return loc
			}
		}
	}
	return time.UTC
}

// eventsCollection answers GET events (paged) and POST events.
func (e *Emulator) eventsCollection(c *call) {
	switch c.r.Method {
	case http.MethodGet:
		loc := preferredZone(c.r)
		render := func(it StoredItem) map[string]any { return eventJSON(it, loc, c.mb.upn) }
		itemPage(c, "microsoft.graph.event", eventProps, c.mb.Events(), render, "events", false)
	case http.MethodPost:
		e.postEvent(c)
	default:
		methodNotAllowed(c, "GET, POST")
	}
}

// postEvent creates an event the mailbox's user organizes.
func (e *Emulator) postEvent(c *call) {
	type when struct {
		DateTime string `json:"dateTime"`
		TimeZone string `json:"timeZone"`
	}
	var in struct {
		Subject string `json:"subject"`
		Start   *when  `json:"start"`
		End     *when  `json:"end"`
	}
	if !c.readJSON(&in) {
		return
	}
	if in.Start == nil || in.End == nil {
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidParam, "An event needs a start and an end.")
		return
	}
	start, err1 := parseEventTime(in.Start.DateTime, in.Start.TimeZone)
	end, err2 := parseEventTime(in.End.DateTime, in.End.TimeZone)
	if err1 != nil || err2 != nil || end.Before(start) {
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidParam, "The event's start or end is invalid.")
		return
	}
	id := c.mb.AddEvent(in.Subject, start, end, true)
	it, _ := c.mb.item(id, kindEvent)
	out := eventJSON(it, preferredZone(c.r), c.mb.upn)
	out["@odata.context"] = metadataURL(c) + "/events/$entity"
	writeJSON(c.w, http.StatusCreated, out)
}

// calendarView answers GET calendarView?startDateTime=..&endDateTime=..:
// the events overlapping the window, by start, paged with $skiptoken.
func (e *Emulator) calendarView(c *call) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c, "GET")
		return
	}
	start, end, ok := viewWindow(c)
	if !ok {
		return
	}
	var in []StoredItem
	for _, it := range c.mb.Events() {
		if it.Start.Before(end) && it.End.After(start) {
			in = append(in, it)
		}
	}
	loc := preferredZone(c.r)
	render := func(it StoredItem) map[string]any { return eventJSON(it, loc, c.mb.upn) }
	itemPage(c, "microsoft.graph.event", eventProps, in, render, "calendarView", true)
}

// viewWindow reads startDateTime and endDateTime (required).
func viewWindow(c *call) (time.Time, time.Time, bool) {
	q := c.r.URL.Query()
	s, ok1 := queryParam(q, "startDateTime")
	en, ok2 := queryParam(q, "endDateTime")
	if !ok1 || !ok2 {
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidParam,
			"This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return time.Time{}, time.Time{}, false
	}
	start, err1 := parseEventTime(s, "")
	end, err2 := parseEventTime(en, "")
	if err1 != nil || err2 != nil {
		writeError(c.w, c.r, http.StatusBadRequest, codeInvalidParam, "The value of StartDateTime or EndDateTime is not a valid date and time.")
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// parseEventTime reads an ISO 8601 time; without an offset it is in zone
// (an IANA name or UTC).
func parseEventTime(v, zone string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	loc := time.UTC
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		var t time.Time
		if t, err = time.ParseInLocation(layout, v, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}
