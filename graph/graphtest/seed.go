package graphtest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"time"
)

// DemoUPN is the demo mailbox Seed creates.
const DemoUPN = "demo@outlookfs.test"

// Seed creates the demo mailbox: drafts and events with names that test a
// filesystem (spaces, non-ASCII, a "/", an empty subject, two drafts with the
// same subject), attachments of every kind (file, inline image, attached
// message, event and contact, reference), a file over 3 MiB, events in the
// coming weeks and one the user does not organize. All bytes are
// deterministic.
func Seed(e *Emulator) *Mailbox {
	m := e.AddMailbox(DemoUPN)

	report := m.AddDraft("Quarterly report")
	m.AddFileAttachment(report, "figures.csv", "text/csv", []byte(demoCSV))
	m.AddFileAttachment(report, "site plan.pdf", "application/pdf", DemoBytes(3<<20+512<<10, 1))
	m.AddInlineAttachment(report, "logo.png", "image/png", "logo@outlookfs.test", demoPNG())
	m.AddItemAttachment(report, "Re: budget", kindMessage, "Re: budget")
	m.AddItemAttachment(report, "Kick-off meeting", kindEvent, "Kick-off meeting")
	m.AddItemAttachment(report, "Ada Lovelace", kindContact, "Ada Lovelace")
	m.AddReferenceAttachment(report, "Shared folder", "https://contoso.sharepoint.com/sites/demo/Shared%20Documents")

	cafe := m.AddDraft("Café menu ☕")
	m.AddFileAttachment(cafe, "menu – été.txt", "text/plain", []byte("Croissant 2,50 €\nCafé crème 3,20 €\n"))

	plan := m.AddDraft("Q3/Q4 plan")
	m.AddFileAttachment(plan, "plan.md", "text/markdown", []byte("# Q3/Q4 plan\n\n- ship outlookfs\n"))

	m.AddDraft("")
	for i := 1; i <= 2; i++ {
		d := m.AddDraft("Same subject")
		m.AddFileAttachment(d, fmt.Sprintf("note-%d.txt", i), "text/plain", []byte(fmt.Sprintf("draft %d of 2\n", i)))
	}

	day := e.now().UTC().Truncate(24 * time.Hour)
	at := func(days, hour int) time.Time {
		return day.Add(time.Duration(days)*24*time.Hour + time.Duration(hour)*time.Hour)
	}
	m.AddEvent("Standup", at(1, 9), at(1, 9).Add(15*time.Minute), true)
	review := m.AddEvent("Design review: outlookfs", at(7, 14), at(7, 15), true)
	m.AddFileAttachment(review, "agenda.txt", "text/plain", []byte("1. FUSE\n2. Graph\n3. Questions\n"))
	lunch := m.AddEvent("Team lunch 🍕", at(14, 12), at(14, 13), true)
	m.AddItemAttachment(lunch, "Restaurant", kindContact, "Chez Léon")
	hands := m.AddEvent("All hands", at(10, 16), at(10, 17), false)
	m.AddFileAttachment(hands, "slides.pdf", "application/pdf", DemoBytes(200<<10, 2))
	return m
}

// DemoBytes returns n deterministic pseudo-random bytes (xorshift) for seed.
func DemoBytes(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := 2463534242 ^ seed*2654435761
	if x == 0 {
		x = 1
	}
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

const demoCSV = "quarter,revenue,cost\nQ1,100,80\nQ2,120,85\nQ3,130,90\n"

// demoPNG is a small deterministic image.
func demoPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for y := range 32 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{R: uint8(x * 8), G: uint8(y * 8), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("graphtest: encode demo image: " + err.Error())
	}
	return buf.Bytes()
}

// Describe summarises a mailbox (for the demo's banner and debugging).
func Describe(m *Mailbox) string {
	var b strings.Builder
	for _, d := range m.Drafts() {
		fmt.Fprintf(&b, "draft %q: %d attachments\n", d.Subject, len(m.Attachments(d.ID)))
	}
	for _, ev := range m.Events() {
		fmt.Fprintf(&b, "event %q %s organizer=%v: %d attachments\n", ev.Subject, ev.Start.Format(time.RFC3339), ev.IsOrganizer, len(m.Attachments(ev.ID)))
	}
	return b.String()
}
