package graph

import (
	"encoding/json"
	"strings"
	"time"
)

// graphTime is a Graph timestamp. Graph writes UTC with a Z and up to seven
// fractional digits ("2019-09-25T01:09:30.7671707Z"); dateTime fields of
// dateTimeTimeZone objects have no zone at all. Both, and an offset, are read.
// Empty and null leave the zero time.
type graphTime struct{ time.Time }

var graphTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
}

func (t *graphTime) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := parseGraphTime(*s, time.UTC)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// parseGraphTime parses s; a time without zone is taken in loc.
func parseGraphTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	var firstErr error
	for _, layout := range graphTimeLayouts {
		v, err := time.ParseInLocation(layout, s, loc)
		if err == nil {
			return v.UTC(), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return time.Time{}, firstErr
}

// dateTimeTimeZone is Graph's {"dateTime": "...", "timeZone": "..."}.
type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// utc resolves the object to an instant. The client asks for UTC
// (Prefer: outlook.timezone="UTC"); an IANA zone is honoured too. A Windows zone
// name ("Pacific Standard Time") cannot be resolved without tables: ok is then
// false and the time is read as UTC.
func (d dateTimeTimeZone) utc() (t time.Time, ok bool, err error) {
	loc, ok := time.UTC, true
	switch tz := strings.TrimSpace(d.TimeZone); {
	case tz == "" || strings.EqualFold(tz, "UTC") || strings.EqualFold(tz, "Etc/UTC") ||
		strings.EqualFold(tz, "tzone://Microsoft/Utc"):
	default:
		if l, lerr := time.LoadLocation(tz); lerr == nil {
			loc = l
		} else {
			ok = false
		}
	}
	t, err = parseGraphTime(d.DateTime, loc)
	return t, ok, err
}
