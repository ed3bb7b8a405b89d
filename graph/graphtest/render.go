package graphtest

import (
	"fmt"
	"mime"
	"strings"
	"time"
)

// newItemAttachment builds an item attachment of kind ("message", "event" or
// "contact") with its $value rendering.
func (e *Emulator) newItemAttachment(name, kind, subject string) (*StoredAttachment, error) {
	now := e.now().UTC()
	uid := newUUID()
	var data string
	switch kind {
	case kindMessage:
		data = renderMessage(subject, now, uid)
	case kindEvent:
		data = renderEvent(subject, now, uid)
	case kindContact:
		data = renderContact(subject, uid)
	default:
		return nil, fmt.Errorf("item attachment kind %q: want message, event or contact", kind)
	}
	return &StoredAttachment{Kind: attItem, ItemKind: kind, Name: name, Subject: subject, Data: []byte(data)}, nil
}

// itemContentType is the Content-Type of an item attachment's $value.
func itemContentType(kind string) string {
	switch kind {
	case kindEvent:
		return "text/calendar; charset=utf-8"
	case kindContact:
		return "text/vcard; charset=utf-8"
	}
	return "message/rfc822"
}

// renderMessage is an RFC 822 message, CRLF line ends.
func renderMessage(subject string, at time.Time, uid string) string {
	lines := []string{
		"From: Outlook Test <sender@outlookfs.test>",
		"To: demo@outlookfs.test",
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Date: " + at.Format(time.RFC1123Z),
		"Message-ID: <" + uid + "@outlookfs.test>",
		"MIME-Version: 1.0",
		`Content-Type: text/plain; charset="utf-8"`,
		"Content-Transfer-Encoding: 8bit",
		"",
		"This message was attached to an Outlook item.",
		"Subject: " + subject,
		"",
	}
	return strings.Join(lines, "\r\n")
}

// renderEvent is an iCalendar object (RFC 5545), CRLF line ends, folded.
func renderEvent(subject string, at time.Time, uid string) string {
	start := at.Truncate(time.Hour).Add(24 * time.Hour)
	const layout = "20060102T150405Z"
	lines := []string{
		"BEGIN:VCALENDAR",
		"PRODID:-//outlookfs//graphtest//EN",
		"VERSION:2.0",
		"METHOD:PUBLISH",
		"BEGIN:VEVENT",
		"UID:" + uid,
		"SUMMARY:" + icalEscape(subject),
		"DTSTART:" + start.Format(layout),
		"DTEND:" + start.Add(time.Hour).Format(layout),
		"DTSTAMP:" + at.Format(layout),
		"END:VEVENT",
		"END:VCALENDAR",
		"",
	}
	for i, l := range lines {
		lines[i] = foldLine(l)
	}
	return strings.Join(lines, "\r\n")
}

// renderContact is a vCard 3.0.
func renderContact(name, uid string) string {
	lines := []string{
		"BEGIN:VCARD",
		"VERSION:3.0",
		"UID:" + uid,
		"FN:" + icalEscape(name),
		"N:" + icalEscape(name) + ";;;;",
		"EMAIL;TYPE=INTERNET:contact@outlookfs.test",
		"END:VCARD",
		"",
	}
	for i, l := range lines {
		lines[i] = foldLine(l)
	}
	return strings.Join(lines, "\r\n")
}

var icalEscaper = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\n", `\n`, "\r", "")

func icalEscape(s string) string { return icalEscaper.Replace(s) }

// foldLine folds a content line at 75 octets without splitting a UTF-8
// sequence (RFC 5545 3.1).
func foldLine(l string) string {
	if len(l) <= 75 {
		return l
	}
	var b strings.Builder
	limit := 75
	for len(l) > limit {
		cut := limit
		for cut > 0 && l[cut]&0xC0 == 0x80 {
			cut--
		}
		b.WriteString(l[:cut])
		b.WriteString("\r\n ")
		l = l[cut:]
		limit = 74
	}
	b.WriteString(l)
	return b.String()
}
