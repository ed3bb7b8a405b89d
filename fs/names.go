package fs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"syscall"
	"unicode/utf8"
)

// maxNameBytes is the longest name Linux accepts for one path component.
const maxNameBytes = 255

// SafeName turns a name that came from the server (a subject, an attachment name, a content id)
// into one path component: never empty, never "." or "..", no "/" or NUL, valid UTF-8, at most 255
// bytes. It is deterministic, so the same server name always gives the same file name.
// fallback is used when nothing printable is left.
func SafeName(name, fallback string) string {
	var b strings.Builder
	for len(name) > 0 {
		r, size := utf8.DecodeRuneInString(name)
		name = name[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune('\uFFFD')
		case r == '/':
			b.WriteRune('\uFF0F') // FULLWIDTH SOLIDUS, as rclone does
		case r == 0:
			// dropped
		case r < 0x20:
			b.WriteRune(0x2400 + r) // control pictures: U+2401..U+241F
		case r == 0x7f:
			b.WriteRune('\u2421')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.TrimSpace(b.String())
	if s == "" {
		s = fallback
	}
	if s == "." || s == ".." {
		s = strings.Repeat("\uFF0E", len(s)) // FULLWIDTH FULL STOP
	}
	return truncateName(s, maxNameBytes)
}

// truncateName shortens s to at most max bytes without splitting a UTF-8 sequence,
// keeping a short extension when there is one.
func truncateName(s string, max int) string {
	if len(s) <= max {
		return s
	}
	ext := path.Ext(s)
	if len(ext) > 16 || len(ext) == len(s) {
		ext = ""
	}
	base := s[:len(s)-len(ext)]
	keep := max - len(ext)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep--
	}
	return base[:keep] + ext
}

// withSuffix inserts a short, stable tag derived from id before the extension:
// "report.pdf" -> "report [3f9a1c].pdf". It keeps the result within 255 bytes.
func withSuffix(name, id string) string {
	sum := sha256.Sum256([]byte(id))
	tag := " [" + hex.EncodeToString(sum[:3]) + "]"
	ext := path.Ext(name)
	if len(ext) > 16 || len(ext) == len(name) {
		ext = ""
	}
	base := name[:len(name)-len(ext)]
	return truncateName(base, maxNameBytes-len(tag)-len(ext)) + tag + ext
}

// named is something listed under a server-given name.
type named struct {
	Name  string // SafeName of the server name (plus an extension where the kind needs one)
	Key   string // the server id: decides the suffix and the order among duplicates
	Order string // sorts duplicates: the oldest keeps the plain name
}

// uniqueNames gives every entry a distinct, stable name: within a group of equal names the first
// by (Order, Key) keeps the plain name, the others get withSuffix(name, Key). Names in taken are
// treated as already used by someone else (local files), so server entries with those names get
// suffixes. It returns the names in the order of entries.
func uniqueNames(entries []named, taken map[string]bool) []string {
	groups := make(map[string][]int, len(entries))
	for i, e := range entries {
		groups[e.Name] = append(groups[e.Name], i)
	}
	out := make([]string, len(entries))
	used := make(map[string]bool, len(entries))
	for name, idx := range groups {
		first := idx[0]
		for _, i := range idx[1:] {
			if less(entries[i], entries[first]) {
				first = i
			}
		}
		for _, i := range idx {
			if i == first && !taken[name] {
				out[i] = name
			} else {
				out[i] = withSuffix(name, entries[i].Key)
			}
			used[out[i]] = true
		}
	}
	// A suffixed name could, in theory, equal another entry's plain name: resolve by
	// suffixing again with a longer key, deterministically.
	seen := make(map[string]int, len(out))
	for i := range out {
		if j, dup := seen[out[i]]; dup {
			a, b := i, j
			if less(entries[a], entries[b]) {
				a, b = b, a
			}
			out[a] = withSuffix(out[a], entries[a].Key+"\x00")
		}
		seen[out[i]] = i
	}
	return out
}

func less(a, b named) bool {
	if a.Order != b.Order {
		return a.Order < b.Order
	}
	return a.Key < b.Key
}

// validLocalName reports whether a name a user gives (create, rename, mkdir) can become an
// attachment name or a subject: valid UTF-8, no control characters.
//
// It must also come back unchanged from SafeName (no leading or trailing spaces, no "/"
// replacement...): otherwise the next listing would show the item under another name, and the
// name the user gave would vanish.
func validLocalName(name string) bool { return nameProblem(name) == "" }

// nameProblem says why a name cannot be created here ("" when it can): the next listing would
// show it under another name, or Graph would not take it.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case !utf8.ValidString(name):
		return "the name is not valid UTF-8"
	case len(name) > maxNameBytes:
		return fmt.Sprintf("the name is %d bytes long, over %d", len(name), maxNameBytes)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("the name holds the control character %U", r)
		}
	}
	if safe := SafeName(name, ""); safe != name {
		return fmt.Sprintf("the name would be listed as %q (leading or trailing spaces, a '/', '.' or '..' are changed)", safe)
	}
	return ""
}

// nameErrno is the errno of a name nameProblem refuses: ENAMETOOLONG for one over 255 bytes
// (as every Linux filesystem answers), EINVAL otherwise.
func nameErrno(name string) syscall.Errno {
	if len(name) > maxNameBytes {
		return syscall.ENAMETOOLONG
	}
	return syscall.EINVAL
}

// refuse logs why an operation on name is refused with errno and returns errno.
func (f *FS) refuse(op, name string, errno syscall.Errno, reason string) syscall.Errno {
	f.log.Warn(op+" refused: "+reason, "name", name, "errno", errno)
	return errno
}

// isScratch reports whether a name is one that editors, sync tools and file managers use for
// temporary files. Such files live in the spool only and are never uploaded; renaming one to an
// ordinary name is what attaches it.
func isScratch(name string) bool {
	switch {
	case strings.HasPrefix(name, "."): // rsync .name.XXXXXX, .goutputstream-*, .~lock.*#, vim .swp
		return true
	case strings.HasSuffix(name, "~"): // backups: vim name~, emacs
		return true
	case strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"): // emacs autosave
		return true
	case name == "4913": // vim's probe
		return true
	case strings.HasPrefix(name, "~$"): // Office owner files
		return true
	case isLibreOfficeTemp(name): // LibreOffice saves into luXXXXXX.tmp, then renames
		return true
	case strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swx"),
		strings.HasSuffix(name, ".part"), strings.HasSuffix(name, ".crdownload"),
		strings.HasSuffix(name, ".tmp") && strings.HasPrefix(name, "~"):
		return true
	}
	return false
}

// isLibreOfficeTemp matches LibreOffice's temporary save files: "lu" + letters/digits + ".tmp".
func isLibreOfficeTemp(name string) bool {
	core, ok := strings.CutSuffix(name, ".tmp")
	if !ok || !strings.HasPrefix(core, "lu") || len(core) < 3 {
		return false
	}
	for _, r := range core[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
