package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// eventSelect is the $select of event listings.
const eventSelect = "id,subject,start,end,isOrganizer,lastModifiedDateTime"

type eventJSON struct {
	ID                   string           `json:"id"`
	Subject              string           `json:"subject"`
	Start                dateTimeTimeZone `json:"start"`
	End                  dateTimeTimeZone `json:"end"`
	IsOrganizer          bool             `json:"isOrganizer"`
	LastModifiedDateTime graphTime        `json:"lastModifiedDateTime"`
}

// ListEvents lists the event occurrences in [start, end) through calendarView,
// every page. Times are asked for and returned in UTC.
func (c *Client) ListEvents(ctx context.Context, start, end time.Time) ([]Event, error) {
	q := fmt.Sprintf("startDateTime=%s&endDateTime=%s&$select=%s&$top=%d",
		url.QueryEscape(start.UTC().Format(time.RFC3339)), url.QueryEscape(end.UTC().Format(time.RFC3339)),
		eventSelect, pageSize)
	var out []Event
	err := listPages(ctx, c, "list events", c.graphURL("/calendarView", q),
		map[string]string{"Prefer": `outlook.timezone="UTC"`},
		func(v eventJSON) {
			ev, err := v.event(c.log)
			if err != nil {
				// One unreadable event must not hide the others.
				c.log.Warn("graph: skipping an event with unreadable times", "event", shortID(v.ID), "error", err.Error())
				return
			}
			out = append(out, ev)
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (v eventJSON) event(log *slog.Logger) (Event, error) {
	s, sok, err := v.Start.utc()
	if err != nil {
		return Event{}, fmt.Errorf("start: %w", err)
	}
	e, eok, err := v.End.utc()
	if err != nil {
		return Event{}, fmt.Errorf("end: %w", err)
	}
	if !sok || !eok {
		log.Debug("graph: event time zone not understood; read as UTC",
			"event", shortID(v.ID), "timeZone", v.Start.TimeZone)
	}
	return Event{ID: v.ID, Subject: v.Subject, Start: s, End: e, IsOrganizer: v.IsOrganizer,
		LastModified: v.LastModifiedDateTime.Time}, nil
}
