package graphtest

import (
	"bytes"
	"testing"
	"time"
)

func TestSeed(t *testing.T) {
	s := StartT(t, Options{})
	m := Seed(s.Emulator)
	if m.UPN() != DemoUPN || s.Emulator.Mailbox(DemoUPN) != m {
		t.Fatal("demo mailbox not registered")
	}
	subjects := map[string]int{}
	kinds := map[string]int{}
	var big, inline bool
	for _, d := range m.Drafts() {
		subjects[d.Subject]++
		for _, a := range m.Attachments(d.ID) {
			kinds[a.Kind+"/"+a.ItemKind]++
			if len(a.Data) > 3<<20 {
				big = true
			}
			if a.IsInline && a.ContentID != "" && bytes.HasPrefix(a.Data, []byte("\x89PNG")) {
				inline = true
			}
		}
	}
	for _, want := range []string{"Quarterly report", "Café menu ☕", "Q3/Q4 plan", ""} {
		if subjects[want] != 1 {
			t.Errorf("draft %q: %d", want, subjects[want])
		}
	}
	if subjects["Same subject"] != 2 {
		t.Errorf("two drafts with the same subject: %d", subjects["Same subject"])
	}
	for _, k := range []string{"file/", "item/message", "item/event", "item/contact", "reference/"} {
		if kinds[k] == 0 {
			t.Errorf("no %s attachment", k)
		}
	}
	if !big || !inline {
		t.Errorf("file over 3 MiB: %v, inline image with contentId: %v", big, inline)
	}
	var organizer, notOrganizer int
	for _, ev := range m.Events() {
		if ev.Start.Before(time.Now()) {
			t.Errorf("event %q is not in the coming weeks", ev.Subject)
		}
		if ev.IsOrganizer {
			organizer++
		} else {
			notOrganizer++
		}
	}
	if organizer < 2 || notOrganizer != 1 {
		t.Errorf("events: %d organized, %d not", organizer, notOrganizer)
	}
	if !bytes.Equal(DemoBytes(1000, 1), DemoBytes(1000, 1)) || bytes.Equal(DemoBytes(1000, 1), DemoBytes(1000, 2)) {
		t.Error("DemoBytes is not deterministic per seed")
	}
	if Describe(m) == "" {
		t.Error("Describe is empty")
	}
}
