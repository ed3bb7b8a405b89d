package fs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTwoReadersOneSlow: two programs read the same attachment (not cached yet), each through
// its own download; only one of them may fill the content cache. The slow one (it pauses after
// 1 MiB) owns the fill. The other drops its pages and reads backwards, which is served from the
// cache once it is filled: that read used to wait for the slow reader's fill without bound while
// the kernel kept its page locked, and the slow reader, needing that very page to go on, waited
// for it: both hung for good. Kernel readahead that arrives out of order does the same to plain
// concurrent cats (seen as three cats hanging in TestStreamingRead).
func TestTwoReadersOneSlow(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Two readers")
	_, data := writeSource(t, 6*mib+3, 91)
	h.mb.AddFileAttachment(id, "shared.bin", "application/octet-stream", data)
	p := filepath.Join(dir, "shared.bin")
	h.must("stat", p)
	want := fmt.Sprintf("%x", sha256sum(data))

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	slow := exec.CommandContext(ctx, "python3", "-c", `
import hashlib, sys, time
f = open(sys.argv[1], "rb")
h = hashlib.sha256(f.read(1 << 20))
print("ready", flush=True)
time.sleep(3)
while True:
    b = f.read(1 << 17)
    if not b:
        break
    h.update(b)
print(h.hexdigest(), flush=True)
`, p)
	out, err := slow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the slow reader did not start: %q %v", line, err)
	}
	back, err := exec.CommandContext(ctx, "python3", "-c", `
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
head = os.read(fd, 3 << 19)  # 1.5 MiB
while len(head) < 3 << 19:
    head += os.read(fd, (3 << 19) - len(head))
os.read(fd, 1 << 19)  # on to 2 MiB
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # the kernel forgets the pages
os.lseek(fd, 3 << 19, os.SEEK_SET)  # and back: a read behind the download
h = hashlib.sha256(head)
while True:
    b = os.read(fd, 1 << 17)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
`, p).CombinedOutput()
	if err != nil || strings.TrimSpace(string(back)) != want {
		t.Errorf("the reader going back: %v %q, want %s", err, back, want)
	}
	rest, _ := io.ReadAll(r)
	if err := slow.Wait(); err != nil || strings.TrimSpace(string(rest)) != want {
		t.Errorf("the slow reader: %v %q, want %s", err, rest, want)
	}
}
