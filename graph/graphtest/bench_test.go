package graphtest

import (
	"testing"
	"time"
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

// BenchmarkUploadOverLink uploads 150 MiB in sequential 4 MiB PUTs over the
// simulated link (20 MB/s, 30 ms) and reports the time against the link's
// bound (bytes / bandwidth + one latency per request).
func BenchmarkUploadOverLink(b *testing.B) {
	const (
		size      = 150 << 20
		bandwidth = 20_000_000
		latency   = 30 * time.Millisecond
	)
	s := StartT(b, Options{MessageSizeLimit: size, Bandwidth: bandwidth, Latency: latency})
	m := s.Emulator.AddMailbox("a@outlookfs.test")
	c := newRaw(b, s, m.Token())
	data := pattern(size)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		draft := m.AddDraft("bench")
		s.Emulator.Reset()
		start := time.Now()
		u := c.createSession("/me/messages/"+draft, "big.bin", size)
		if r := c.uploadAll(u, data, 4<<20); r.status != 201 {
			b.Fatalf("final: %d", r.status)
		}
		took := time.Since(start)
		reqs := len(s.Emulator.Requests())
		bound := time.Duration(float64(size)/bandwidth*float64(time.Second)) + time.Duration(reqs)*latency
		b.ReportMetric(took.Seconds()/bound.Seconds(), "ratio-to-bound")
		b.ReportMetric(float64(reqs), "requests")
		b.StopTimer()
		m.DeleteItem(draft)
		b.StartTimer()
	}
}
