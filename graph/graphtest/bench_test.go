package graphtest

import (
	"testing"
)

// BenchmarkUpload150MiB uploads 150 MiB through the upload host over TLS in
// 4 MiB PUTs (no simulated link): the emulator's own cost per upload.
func BenchmarkUpload150MiB(b *testing.B) {
	const size = 150 << 20
	s := StartT(b, Options{MessageSizeLimit: size})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(b, s, m.Token())
	data := pattern(size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		draft := m.AddDraft("bench")
		u := c.createSession("/me/messages/"+draft, "big.bin", size)
		if r := c.uploadAll(u, data, 4<<20); r.status != 201 {
			b.Fatalf("final: %d", r.status)
		}
		b.StopTimer()
		m.DeleteItem(draft)
		b.StartTimer()
	}
}
