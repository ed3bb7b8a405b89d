//go:build e2e

package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// TestE2EAsyncCloseIsDurable: when an --async close returns, the file's bytes are on the disk,
// not only in the page cache (kill -9 cannot tell: the page cache outlives the process; a power
// loss would). Root reads the page flags of the spool's data file (/proc/self/pagemap and
// /proc/kpageflags): no page may still be dirty or under writeback. The upload is held back by
// 503s meanwhile, so that the data file is still there to look at. The kernel's own flusher
// may clean pages early: that outcome passes too; only a dirty page fails.
func TestE2EAsyncCloseIsDurable(t *testing.T) {
	info := startEmulatorProcess(t)
	g := newGraphAPI(t, info)
	home := t.TempDir()
	m := startMount(t, info, home, "--async")
	draft := filepath.Join(m.dir, "drafts", "Durable")
	if err := os.Mkdir(draft, 0o755); err != nil {
		t.Fatal(err)
	}
	id := g.draftID("Durable")
	g.inject(graphtest.Fault{Host: "graph", Method: "POST", Path: "/me/messages/" + id + "/attachments", Status: 503, RetryAfter: "1", Count: -1})
	f := makeSource(t, t.TempDir(), "f.bin", 2<<20, 5)
	if out, err := runCp(f.path, filepath.Join(draft, f.name)); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	data, _ := filepath.Glob(filepath.Join(home, "state", "outlookfs", "*", "spool", "data", "*"))
	if len(data) != 1 {
		t.Fatalf("spool data files: %v, want one", data)
	}
	dirty, pages := dirtyPages(t, data[0])
	t.Logf("%d of %d pages dirty or under writeback right after the close", dirty, pages)
	if dirty > 0 {
		t.Errorf("%d of %d pages of the spooled file are not on the disk when the --async close returned", dirty, pages)
	}
	g.clearFaults()
	m.waitQuiet(2 * time.Minute)
	g.checkAttached(id, g.attachments(id), f, "after the 503s")
	m.term(time.Minute)
}

// dirtyPages maps path and counts its pages that the kernel flags dirty or under writeback.
func dirtyPages(t *testing.T, path string) (dirty, pages int) {
	t.Helper()
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	st, _ := fd.Stat()
	if st.Size() == 0 {
		return 0, 0
	}
	b, err := syscall.Mmap(int(fd.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer pagemap.Close()
	kflags, err := os.Open("/proc/kpageflags")
	if err != nil {
		t.Fatal(err)
	}
	defer kflags.Close()
	const kpfDirty, kpfWriteback = 1 << 4, 1 << 8
	ps := os.Getpagesize()
	var sink byte
	buf := make([]byte, 8)
	for off := 0; off < len(b); off += ps {
		sink += b[off] // fault the page in
		addr := uintptr(unsafe.Pointer(&b[off]))
		if _, err := pagemap.ReadAt(buf, int64(addr/uintptr(ps))*8); err != nil {
			t.Fatal(err)
		}
		e := binary.LittleEndian.Uint64(buf)
		if e>>63 == 0 {
			continue
		}
		pfn := e & (1<<55 - 1)
		if _, err := kflags.ReadAt(buf, int64(pfn)*8); err != nil {
			t.Fatal(err)
		}
		pages++
		if binary.LittleEndian.Uint64(buf)&(kpfDirty|kpfWriteback) != 0 {
			dirty++
		}
	}
	if pages == 0 {
		t.Fatalf("no page of %s is mapped (checksum %d): pagemap needs root", path, sink)
	}
	return dirty, pages
}
