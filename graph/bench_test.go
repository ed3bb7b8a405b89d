package graph

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// countingTransport counts the requests a client sends.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}

// patternReader is a ReaderAt of deterministic bytes that need no memory.
type patternReader int64

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	n := min(int64(len(b)), max(int64(p)-off, 0))
	for i := range n {
		b[i] = byte(uint64(off+i) * 0x9E3779B97F4A7C15 >> 56)
	}
	return int(n), nil
}

// BenchmarkUpload150MiB uploads 150 MiB through an upload session over the
// emulator's simulated link (20 MB/s shared, 30 ms per request) and reports
// the time, the requests used and the ratio to the link's bound: bytes /
// bandwidth + one latency per request.
func BenchmarkUpload150MiB(b *testing.B) {
	const (
		size      = 150 << 20
		bandwidth = 20_000_000
		latency   = 30 * time.Millisecond
	)
	srv := graphtest.StartT(b, graphtest.Options{Bandwidth: bandwidth, Latency: latency})
	mb := srv.Emulator.AddMailbox(testUPN)
	mb.SetMessageSizeLimit(MaxAttachmentSize)
	hc := *srv.HTTPClient()
	ct := &countingTransport{rt: hc.Transport}
	hc.Transport = ct
	c, err := New(Config{BaseURL: srv.GraphURL, Tokens: StaticToken(mb.Token()), HTTPClient: &hc})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	var elapsed time.Duration
	var requests int64
	b.ResetTimer()
	for range b.N {
		item := ItemRef{ID: mb.AddDraft("bench")}
		before := ct.n.Load()
		start := time.Now()
		if _, err := c.Upload(context.Background(), item, NewAttachment{Name: "bench.bin", Size: size}, patternReader(size), UploadOptions{}); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		requests += ct.n.Load() - before
		b.StopTimer()
		mb.DeleteItem(item.ID) // frees the 150 MiB the emulator holds
		b.StartTimer()
	}
	perUpload := elapsed.Seconds() / float64(b.N)
	perRequests := float64(requests) / float64(b.N)
	bound := float64(size)/bandwidth + perRequests*latency.Seconds()
	b.ReportMetric(perUpload, "s/upload")
	b.ReportMetric(perRequests, "requests/upload")
	b.ReportMetric(bound, "bound-s")
	b.ReportMetric(perUpload/bound, "x-bound")
}
