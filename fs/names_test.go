package fs

import (
	"crypto/sha256"
	"strings"
	"testing"
	"unicode/utf8"
)

func sha256sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestSafeName(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf"
	tests := []struct{ in, want string }{
		{"Quarterly report", "Quarterly report"},
		{"Q3/Q4 plan", "Q3／Q4 plan"},
		{"", "(fallback)"},
		{"   ", "(fallback)"},
		{".", "．"},
		{"..", "．．"},
		{"a\x00b", "ab"},
		{"tab\there", "tab\u2409here"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"Café menu ☕", "Café menu ☕"},
	}
	for _, tt := range tests {
		if got := SafeName(tt.in, "(fallback)"); got != tt.want {
			t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := SafeName(long, "x")
	if len(got) > 255 || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name: %d bytes, valid %v, %q", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}

func TestUniqueNames(t *testing.T) {
	entries := []named{
		{Name: "a.txt", Key: "id2", Order: "2"},
		{Name: "a.txt", Key: "id1", Order: "1"},
		{Name: "b.txt", Key: "id3", Order: "1"},
		{Name: "local.txt", Key: "id4", Order: "1"},
	}
	got := uniqueNames(entries, map[string]bool{"local.txt": true})
	if got[1] != "a.txt" || got[0] == "a.txt" || !strings.HasSuffix(got[0], ".txt") || got[2] != "b.txt" || got[3] == "local.txt" {
		t.Errorf("uniqueNames = %q", got)
	}
	// stable: the same input in another order gives the same names
	rev := []named{entries[3], entries[2], entries[1], entries[0]}
	got2 := uniqueNames(rev, map[string]bool{"local.txt": true})
	if got2[3] != got[0] || got2[2] != got[1] {
		t.Errorf("not stable: %q vs %q", got, got2)
	}
}

func TestIsScratch(t *testing.T) {
	for name, want := range map[string]bool{
		".a.txt.Xy12Zq": true, ".goutputstream-ABC123": true, "notes.txt~": true, "#notes#": true,
		"4913": true, ".notes.txt.swp": true, "~$report.docx": true, ".~lock.report.odt#": true,
		"file.part": true, "file.crdownload": true, "lu1234abcd.tmp": true, "luXy9.tmp": true,
		"lunch.tmp": true, "lu.tmp": false, "lu_1.tmp": false, "blu123.tmp": false,
		"report.pdf": false, "4914": false, "notes.txt": false, "a#b": false,
	} {
		if got := isScratch(name); got != want {
			t.Errorf("isScratch(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzNames: whatever the server sends, names are safe path components, stable, and unique.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a/b", "..", ".", "\x00", "a\nb", strings.Repeat("x", 300), "dup", "dup", "", "é/é", "\xff\xfe"} {
		f.Add(s, s+"2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range []string{a, b} {
			n := SafeName(s, "fallback")
			if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") || len(n) > 255 || !utf8.ValidString(n) {
				t.Fatalf("SafeName(%q) = %q is not a safe name", s, n)
			}
			if SafeName(s, "fallback") != n {
				t.Fatalf("SafeName(%q) is not stable", s)
			}
		}
		entries := []named{{Name: SafeName(a, "f"), Key: a, Order: "1"}, {Name: SafeName(b, "f"), Key: b, Order: "1"}, {Name: SafeName(a, "f"), Key: a + "x", Order: "2"}}
		names := uniqueNames(entries, nil)
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Fatalf("duplicate name %q from %q", n, names)
			}
			if n == "" || strings.ContainsAny(n, "/\x00") || len(n) > 255 || !utf8.ValidString(n) {
				t.Fatalf("unsafe name %q", n)
			}
			seen[n] = true
		}
	})
}
