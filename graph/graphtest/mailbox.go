package graphtest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Item kinds and attachment kinds as the emulator names them.
const (
	kindMessage = "message"
	kindEvent   = "event"
	kindContact = "contact"

	attFile      = "file"
	attItem      = "item"
	attReference = "reference"
)

// StoredItem is a draft or an event as the emulator holds it.
type StoredItem struct {
	ID             string
	Kind           string // "message" or "event"
	Subject        string
	Body           string
	Created        time.Time
	Modified       time.Time
	Start, End     time.Time // events only
	IsOrganizer    bool      // events only
	HasAttachments bool
}

// StoredAttachment is an attachment as the emulator holds it.
// Data is shared with the emulator: treat it as read-only.
type StoredAttachment struct {
	ID          string
	Name        string
	Kind        string // "file", "item" or "reference"
	ItemKind    string // item attachments: "message", "event" or "contact"
	Subject     string // item attachments: the attached item's subject
	ContentType string // "" for item attachments (Graph lists null)
	// Data is the file's bytes, or the rendering of an item attachment
	// (RFC 822, iCalendar, vCard) served by $value; nil for references.
	Data      []byte
	Size      int64 // the size Graph lists (larger than Data)
	IsInline  bool
	ContentID string
	URL       string // reference attachments
	Modified  time.Time
}

// item is the internal form of a draft or an event.
type item struct {
	StoredItem
	seq         uint64 // mailbox change sequence of the last change (delta)
	attachments []*StoredAttachment
}

// tombstone remembers a deleted item for delta queries.
type tombstone struct {
	id   string
	kind string
	seq  uint64
}

// Mailbox is one user's (or a shared) mailbox.
type Mailbox struct {
	e     *Emulator
	upn   string
	token string

	mu         sync.Mutex
	items      map[string]*item
	tombstones []tombstone
	seq        uint64
	// deltaGens counts the delta rounds that ended (deltaLinks issued); tokens of a generation
	// before deltaFloor, or more than Options.DeltaGenerations back, are stale.
	deltaGens, deltaFloor uint64
	shared                bool
	delegates             map[string]bool // lower-case UPNs whose delegated tokens may open it
	sizeLimit             int64

	load load // concurrency and volume accounting
}

// UPN is the mailbox's user principal name.
func (m *Mailbox) UPN() string { return m.upn }

// Token is a delegated token for this mailbox's user (valid for a day).
func (m *Mailbox) Token() string { return m.token }

// SetShared marks the mailbox as a shared or delegated mailbox: delegated
// tokens get 403 from createUploadSession on it (unless
// Options.AllowSharedUploadSessions); small POSTs still work.
func (m *Mailbox) SetShared(shared bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shared = shared
}

// ShareWith lets the delegated tokens of other users open this mailbox
// through /users/{upn}, as a delegate would. Their createUploadSession gets 403
// (unless Options.AllowSharedUploadSessions).
func (m *Mailbox) ShareWith(upns ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range upns {
		m.delegates[strings.ToLower(u)] = true
	}
}

// SetMessageSizeLimit sets this mailbox's maximum message size (bytes of an
// item's attachments). n <= 0 restores Options.MessageSizeLimit.
func (m *Mailbox) SetMessageSizeLimit(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sizeLimit = n
}

func (m *Mailbox) messageSizeLimit() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sizeLimit > 0 {
		return m.sizeLimit
	}
	return m.e.opts.MessageSizeLimit
}

func (m *Mailbox) isShared() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shared
}

func (m *Mailbox) isDelegate(upn string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delegates[strings.ToLower(upn)]
}

// nextSeq must be called with m.mu held.
func (m *Mailbox) nextSeq() uint64 {
	m.seq++
	return m.seq
}

func (m *Mailbox) addItem(it *item) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	it.seq = m.nextSeq()
	m.items[it.ID] = it
	return it.ID
}

// AddDraft adds a message to the Drafts folder and returns its id.
func (m *Mailbox) AddDraft(subject string) string {
	now := m.e.now()
	return m.addItem(&item{StoredItem: StoredItem{
		ID: newID(idMessage), Kind: kindMessage, Subject: subject, Created: now, Modified: now,
	}})
}

// AddEvent adds a calendar event and returns its id. organizer says whether
// the mailbox's user organizes it (only organizers may change attachments).
func (m *Mailbox) AddEvent(subject string, start, end time.Time, organizer bool) string {
	now := m.e.now()
	return m.addItem(&item{StoredItem: StoredItem{
		ID: newID(idEvent), Kind: kindEvent, Subject: subject, Created: now, Modified: now,
		Start: start.UTC(), End: end.UTC(), IsOrganizer: organizer,
	}})
}

// AddFileAttachment attaches a file to an item and returns the attachment id.
// It panics if the item does not exist.
func (m *Mailbox) AddFileAttachment(itemID, name, contentType string, data []byte) string {
	return m.mustAttach(itemID, &StoredAttachment{
		Kind: attFile, Name: name, ContentType: contentType, Data: data,
	})
}

// AddInlineAttachment attaches an inline file (isInline, contentId).
func (m *Mailbox) AddInlineAttachment(itemID, name, contentType, contentID string, data []byte) string {
	return m.mustAttach(itemID, &StoredAttachment{
		Kind: attFile, Name: name, ContentType: contentType, Data: data, IsInline: true, ContentID: contentID,
	})
}

// AddItemAttachment attaches an item: kind is "message", "event" or "contact";
// its $value is RFC 822 MIME, iCalendar or vCard.
func (m *Mailbox) AddItemAttachment(itemID, name, kind, subject string) string {
	a, err := m.e.newItemAttachment(name, kind, subject)
	if err != nil {
		panic("graphtest: " + err.Error())
	}
	return m.mustAttach(itemID, a)
}

// AddReferenceAttachment attaches a link.
func (m *Mailbox) AddReferenceAttachment(itemID, name, url string) string {
	return m.mustAttach(itemID, &StoredAttachment{Kind: attReference, Name: name, URL: url})
}

func (m *Mailbox) mustAttach(itemID string, a *StoredAttachment) string {
	if err := m.attach(itemID, "", a); err != nil {
		panic(fmt.Sprintf("graphtest: attach to %q: %v", itemID, err))
	}
	return a.ID
}

// attach adds a to the item (of kind, or any kind when kind is ""), filling
// in its id, listed size and time.
func (m *Mailbox) attach(itemID, kind string, a *StoredAttachment) error {
	if a.ID == "" {
		a.ID = newID(idAttachment)
	}
	a.Modified = m.e.now()
	switch a.Kind {
	case attFile, attItem:
		a.Size = m.e.opts.ListedSize(int64(len(a.Data)))
	case attReference:
		a.Size = m.e.opts.ListedSize(int64(len(a.URL)))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[itemID]
	if it == nil || (kind != "" && it.Kind != kind) {
		return errItemNotFound
	}
	it.attachments = append(it.attachments, a)
	m.touch(it)
	return nil
}

// touch records a change to it; m.mu must be held.
func (m *Mailbox) touch(it *item) {
	it.Modified = m.e.now()
	it.HasAttachments = len(it.attachments) > 0
	it.seq = m.nextSeq()
}

// item returns a copy of the item's fields, if it exists and is of kind.
func (m *Mailbox) item(id, kind string) (StoredItem, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[id]
	if it == nil || (kind != "" && it.Kind != kind) {
		return StoredItem{}, false
	}
	return it.StoredItem, true
}

// Item returns an item by id.
func (m *Mailbox) Item(id string) (StoredItem, bool) { return m.item(id, "") }

// attachmentBytes is the total content of an item's attachments (what the
// message size limit counts).
func (m *Mailbox) attachmentBytes(itemID string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	if it := m.items[itemID]; it != nil {
		for _, a := range it.attachments {
			n += m.e.counted(int64(len(a.Data)))
		}
	}
	return n
}

func (m *Mailbox) list(kind string) []StoredItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]StoredItem, 0, len(m.items))
	for _, it := range m.items {
		if it.Kind == kind {
			out = append(out, it.StoredItem)
		}
	}
	return out
}

// Drafts lists the drafts, newest first (Graph's order).
func (m *Mailbox) Drafts() []StoredItem {
	out := m.list(kindMessage)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Events lists the events by start time.
func (m *Mailbox) Events() []StoredItem {
	out := m.list(kindEvent)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Attachments lists an item's attachments in the order they were added.
func (m *Mailbox) Attachments(itemID string) []StoredAttachment {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[itemID]
	if it == nil {
		return nil
	}
	out := make([]StoredAttachment, len(it.attachments))
	for i, a := range it.attachments {
		out[i] = *a
	}
	return out
}

func (m *Mailbox) attachment(itemID, kind, aid string) (StoredAttachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[itemID]
	if it == nil || it.Kind != kind {
		return StoredAttachment{}, errItemNotFound
	}
	for _, a := range it.attachments {
		if a.ID == aid {
			return *a, nil
		}
	}
	return StoredAttachment{}, errItemNotFound
}

func (m *Mailbox) deleteAttachment(itemID, kind, aid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[itemID]
	if it == nil || it.Kind != kind {
		return errItemNotFound
	}
	for i, a := range it.attachments {
		if a.ID == aid {
			it.attachments = append(it.attachments[:i:i], it.attachments[i+1:]...)
			m.touch(it)
			return nil
		}
	}
	return errItemNotFound
}

func (m *Mailbox) deleteItem(id, kind string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[id]
	if it == nil || it.Kind != kind {
		return false
	}
	delete(m.items, id)
	m.tombstones = append(m.tombstones, tombstone{id: id, kind: kind, seq: m.nextSeq()})
	return true
}

// DeleteItem removes a draft or an event (as if deleted in Outlook).
func (m *Mailbox) DeleteItem(id string) bool {
	it, ok := m.Item(id)
	return ok && m.deleteItem(id, it.Kind)
}

// update applies f to the item under the lock and records the change.
func (m *Mailbox) update(id, kind string, f func(*StoredItem)) (StoredItem, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.items[id]
	if it == nil || it.Kind != kind {
		return StoredItem{}, false
	}
	f(&it.StoredItem)
	m.touch(it)
	return it.StoredItem, true
}

// SetSubject changes an item's subject (as if changed in Outlook).
func (m *Mailbox) SetSubject(id, subject string) bool {
	it, ok := m.Item(id)
	if !ok {
		return false
	}
	_, ok = m.update(id, it.Kind, func(s *StoredItem) { s.Subject = subject })
	return ok
}

// counted is what n bytes of an attachment weigh against the message size limit: n, or with
// Options.MessageSizeEncoded their MIME encoding (base64 in 76-character lines ending CRLF,
// and about 300 bytes of part headers).
func (e *Emulator) counted(n int64) int64 {
	if !e.opts.MessageSizeEncoded || n == 0 {
		return n
	}
	b64 := (n + 2) / 3 * 4
	return b64 + (b64+75)/76*2 + mimePartHeaders
}

// mimePartHeaders approximates the headers of one attachment's MIME part.
const mimePartHeaders = 300
