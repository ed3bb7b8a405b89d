// Command outlookfs-bench measures the Graph client's upload through the
// emulator over a simulated link (default 20 MB/s, 30 ms per request) and
// prints a markdown table row: time, requests used, the link's bound
// (bytes / bandwidth + one latency per request) and the ratio to it.
// `make bench` calls it; -header prints the table's header first.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/graph/graphtest"
)

func main() {
	size := flag.Int64("size", 150<<20, "bytes uploaded")
	bandwidth := flag.Int64("bandwidth", 20_000_000, "simulated link, bytes per second")
	latency := flag.Duration("latency", 30*time.Millisecond, "simulated latency, once per request")
	header := flag.Bool("header", false, "print the table header first")
	flag.Parse()
	res, err := run(*size, *bandwidth, *latency)
	if err != nil {
		fmt.Fprintln(os.Stderr, "outlookfs-bench:", err)
		os.Exit(1)
	}
	if *header {
		fmt.Println("| benchmark | time | requests | baseline: link bound | ratio to bound | goal |")
		fmt.Println("|---|---|---|---|---|---|")
	}
	fmt.Printf("| graph upload %s (%.0f MB/s, %v latency) | %.2f s | %d | %.2f s | %.3fx | none set (issue 2 asks for the ratio) |\n",
		sizeName(*size), float64(*bandwidth)/1e6, *latency,
		res.elapsed.Seconds(), res.requests, res.bound.Seconds(), res.elapsed.Seconds()/res.bound.Seconds())
}

func sizeName(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

type result struct {
	elapsed  time.Duration
	requests int64
	bound    time.Duration
}

// countingTransport counts the requests the client sends.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}

// pattern is a ReaderAt of deterministic bytes that need no memory.
type pattern int64

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(p) {
		return 0, fmt.Errorf("read at %d past %d", off, int64(p))
	}
	n := min(int64(len(b)), int64(p)-off)
	for i := range n {
		x := uint64(off+i) * 0x9E3779B97F4A7C15
		b[i] = byte(x >> 56)
	}
	return int(n), nil
}

func run(size, bandwidth int64, latency time.Duration) (result, error) {
	srv, err := graphtest.Start(graphtest.Options{Bandwidth: bandwidth, Latency: latency}, graphtest.ServerOptions{})
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	mb := srv.Emulator.AddMailbox("bench@outlookfs.test")
	mb.SetMessageSizeLimit(graph.MaxAttachmentSize)
	hc := *srv.HTTPClient()
	ct := &countingTransport{rt: hc.Transport}
	hc.Transport = ct
	c, err := graph.New(graph.Config{BaseURL: srv.GraphURL, Tokens: graph.StaticToken(mb.Token()), HTTPClient: &hc})
	if err != nil {
		return result{}, err
	}
	item := graph.ItemRef{ID: mb.AddDraft("bench")}
	ctx := context.Background()
	start := time.Now()
	id, err := c.Upload(ctx, item, graph.NewAttachment{Name: "bench.bin", ContentType: "application/octet-stream", Size: size},
		pattern(size), graph.UploadOptions{})
	elapsed := time.Since(start)
	if err != nil {
		return result{}, err
	}
	if err := verify(mb, item.ID, id, size); err != nil {
		return result{}, err
	}
	n := ct.n.Load()
	bound := time.Duration(float64(size)/float64(bandwidth)*float64(time.Second)) + time.Duration(n)*latency
	return result{elapsed: elapsed, requests: n, bound: bound}, nil
}

// verify checks the emulator holds exactly the bytes sent.
func verify(mb *graphtest.Mailbox, itemID, id string, size int64) error {
	for _, a := range mb.Attachments(itemID) {
		if a.ID != id {
			continue
		}
		want := make([]byte, size)
		if _, err := pattern(size).ReadAt(want, 0); err != nil && size > 0 {
			return err
		}
		if !bytes.Equal(a.Data, want) {
			return fmt.Errorf("the uploaded attachment differs from the source")
		}
		return nil
	}
	return fmt.Errorf("attachment %s not found after the upload", id)
}
