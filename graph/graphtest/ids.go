package graphtest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// Id prefixes, shaped like Exchange ids (base64url, "=" padded).
const (
	idMessage    = "AAMkAGM"
	idEvent      = "AAMkAGE"
	idAttachment = "AAMkAGA"
)

var errItemNotFound = errors.New("item not found")

// newID returns a fresh Graph-like id.
func newID(prefix string) string {
	return prefix + randomString(30) + "="
}

// randomString returns base64url of n random bytes.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID reports whether id could be a Graph id; anything else is answered
// with ErrorInvalidIdMalformed.
func validID(id string) bool {
	if len(id) < 8 || !strings.HasPrefix(id, "AAMk") {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}
