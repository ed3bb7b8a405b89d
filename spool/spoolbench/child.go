package spoolbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outlookfs/outlookfs/graph"
	"github.com/outlookfs/outlookfs/spool"
)

// childEnv names the environment variable that makes a process the PeakRSS child.
const childEnv = "SPOOLBENCH_CHILD"

// RunChildIfAsked runs the PeakRSS child and exits when this process was
// started as one; otherwise it returns at once. Call it first in main or TestMain.
func RunChildIfAsked() {
	if os.Getenv(childEnv) != "rss" {
		return
	}
	rep, err := rssChild()
	if err != nil {
		fmt.Fprintln(os.Stderr, "spoolbench child:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	os.Exit(0)
}

// rssChild spools and uploads one file per item at once while sampling RssAnon.
func rssChild() (childReport, error) {
	var rep childReport
	env := func(k string) string { return os.Getenv("SPOOLBENCH_" + k) }
	base, err := rssAnon()
	if err != nil {
		return rep, err
	}
	rep.BaseAnon = base
	var peak, goAtPeak atomic.Int64
	peak.Store(base)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := rssAnon(); err == nil && v > peak.Load() {
				peak.Store(v)
				goAtPeak.Store(goResident())
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()

	size, err := strconv.ParseInt(env("SIZE"), 10, 64)
	if err != nil {
		return rep, err
	}
	pem, err := os.ReadFile(env("CA"))
	if err != nil {
		return rep, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	log := slog.New(slog.DiscardHandler)
	client, err := graph.New(graph.Config{BaseURL: env("GRAPH"), Tokens: graph.StaticToken(env("TOKEN")),
		HTTPClient: &http.Client{Transport: tr}, Logger: log})
	if err != nil {
		return rep, err
	}
	ctx := context.Background()
	s, err := spool.Open(ctx, spool.Options{Dir: filepath.Join(env("DIR"), "spool"), Uploader: client, Logger: log})
	if err != nil {
		return rep, err
	}
	block := newBlock()
	items := strings.Split(env("ITEMS"), ",")
	errs := make(chan error, len(items))
	start := time.Now()
	for i, id := range items {
		go func() {
			errs <- spoolAndWait(ctx, s, graph.ItemRef{ID: id}, fmt.Sprintf("file-%d.bin", i), block, size)
		}()
	}
	for range items {
		if err := <-errs; err != nil {
			s.Close()
			return rep, err
		}
	}
	rep.Elapsed = time.Since(start)
	close(stop)
	sampler.Wait()
	if err := s.Close(); err != nil {
		return rep, err
	}
	rep.PeakAnon = peak.Load()
	rep.GoAtPeak = goAtPeak.Load()
	return rep, nil
}

func spoolAndWait(ctx context.Context, s *spool.Spool, item graph.ItemRef, name string, block []byte, size int64) error {
	f, err := s.Create(ctx, spool.CreateOptions{Item: item, Name: name})
	if err != nil {
		return err
	}
	for off := int64(0); off < size; {
		p := piece(block, off, size)
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	if err := f.Commit(ctx); err != nil {
		return err
	}
	_, err = s.Wait(ctx, f.ID(), nil)
	return err
}

// goResident estimates the memory the Go runtime holds from the OS (heap,
// stacks, metadata), without what it already gave back.
func goResident() int64 {
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(samples)
	return int64(samples[0].Value.Uint64()) - int64(samples[1].Value.Uint64())
}
