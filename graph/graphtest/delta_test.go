package graphtest

import (
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"
)

// deltaRound follows nextLinks from start and returns the ids seen (removed
// ones prefixed with "-") and the deltaLink.
func followDelta(t *testing.T, c *rawClient, start string) ([]string, string) {
	t.Helper()
	var ids []string
	next := start
	for {
		r := c.do("GET", next, nil, map[string]string{"Prefer": "odata.maxpagesize=3"})
		if r.status != 200 {
			t.Fatalf("delta: %d %s", r.status, r.body)
		}
		body := r.json(t)
		for _, v := range body["value"].([]any) {
			m := v.(map[string]any)
			id := m["id"].(string)
			if _, removed := m["@removed"]; removed {
				id = "-" + id
			}
			ids = append(ids, id)
		}
		if n, ok := body["@odata.nextLink"].(string); ok {
			next = n
			continue
		}
		dl, _ := body["@odata.deltaLink"].(string)
		if dl == "" {
			t.Fatalf("last page without deltaLink: %s", r.body)
		}
		return ids, dl
	}
}

func TestDraftsDelta(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	var all []string
	for i := range 7 {
		all = append(all, m.AddDraft(fmt.Sprintf("d%d", i)))
	}
	c := newRaw(t, s, m.Token())
	ids, link := followDelta(t, c, "/me/mailFolders/drafts/messages/delta?$select=subject")
	sort.Strings(ids)
	sort.Strings(all)
	if fmt.Sprint(ids) != fmt.Sprint(all) {
		t.Fatalf("initial round %v, want %v", ids, all)
	}
	// Nothing changed: an empty round.
	ids, link = followDelta(t, c, link)
	if len(ids) != 0 {
		t.Fatalf("no changes gave %v", ids)
	}
	m.SetSubject(all[2], "changed")
	m.DeleteItem(all[3])
	added := m.AddDraft("new")
	ids, _ = followDelta(t, c, link)
	want := []string{all[2], "-" + all[3], added}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", ids, want)
	}
	if r := c.do("GET", "/me/mailFolders/drafts/messages/delta?$deltatoken=garbage", nil, nil); r.status != 410 {
		t.Fatalf("stale token: %d", r.status)
	}
}

func TestCalendarViewDelta(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	now := time.Now().UTC().Truncate(time.Hour)
	in := m.AddEvent("in", now.Add(24*time.Hour), now.Add(25*time.Hour), true)
	m.AddEvent("out", now.Add(-100*24*time.Hour), now.Add(-99*24*time.Hour), true)
	c := newRaw(t, s, m.Token())
	q := url.Values{"startDateTime": {now.Format(time.RFC3339)}, "endDateTime": {now.Add(30 * 24 * time.Hour).Format(time.RFC3339)}}
	ids, link := followDelta(t, c, "/me/calendarView/delta?"+q.Encode())
	if fmt.Sprint(ids) != fmt.Sprint([]string{in}) {
		t.Fatalf("initial %v", ids)
	}
	m.SetSubject(in, "renamed")
	ids, _ = followDelta(t, c, link)
	if fmt.Sprint(ids) != fmt.Sprint([]string{in}) {
		t.Fatalf("after a change %v", ids)
	}
	if r := c.do("GET", "/me/calendarView/delta", nil, nil); r.status != 400 {
		t.Fatalf("no window: %d", r.status)
	}
}

// TestDeltaTokensAge: only the latest DeltaGenerations rounds' tokens stay valid, and
// ExpireDeltaTokens (POST /_emulator/expire-delta) makes every one stale: 410 SyncStateNotFound.
func TestDeltaTokensAge(t *testing.T) {
	s := StartT(t, Options{DeltaGenerations: 3})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	m.AddDraft("d")
	c := newRaw(t, s, m.Token())
	_, first := followDelta(t, c, "/me/mailFolders/drafts/messages/delta?$select=subject")
	links := []string{first}
	for range 3 {
		_, l := followDelta(t, c, links[len(links)-1])
		links = append(links, l)
	}
	// Four rounds ended: the first link is four generations back, the last three are valid.
	if r := c.do("GET", links[0], nil, nil); r.status != 410 || r.code(t) != "SyncStateNotFound" {
		t.Fatalf("a token 4 generations back: %d %s", r.status, r.body)
	}
	for _, l := range links[1:] {
		if r := c.do("GET", l, nil, nil); r.status != 200 {
			t.Fatalf("a recent token: %d %s", r.status, r.body)
		}
	}
	// A new first round is always possible.
	_, fresh := followDelta(t, c, "/me/mailFolders/drafts/messages/delta?$select=subject")
	ctl := newRaw(t, s, "")
	if r := ctl.do("POST", s.RootURL+"/_emulator/expire-delta", nil, nil); r.status != 204 {
		t.Fatalf("expire-delta: %d %s", r.status, r.body)
	}
	if r := c.do("GET", fresh, nil, nil); r.status != 410 {
		t.Fatalf("after expire-delta: %d %s", r.status, r.body)
	}
}

// TestCalendarViewDeltaRefusesSelect: calendarView/delta takes no $select, as on Graph.
func TestCalendarViewDeltaRefusesSelect(t *testing.T) {
	s := StartT(t, Options{})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(t, s, m.Token())
	now := time.Now().UTC()
	q := url.Values{"startDateTime": {now.Format(time.RFC3339)}, "endDateTime": {now.Add(time.Hour).Format(time.RFC3339)}, "$select": {"subject"}}
	if r := c.do("GET", "/me/calendarView/delta?"+q.Encode(), nil, nil); r.status != 400 {
		t.Fatalf("$select on calendarView/delta: %d %s", r.status, r.body)
	}
}
