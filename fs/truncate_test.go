package fs

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTruncateByPathWhileOpen: truncate(2) by path is a whole write: the new version is uploaded
// before it returns, also while another descriptor holds the file open without writing (GIO's
// probe; or a writer whose RELEASE the kernel has not sent yet: it comes after close(2)
// returned, which made posixtest's TruncateNoFile fail now and then). Before, such a truncate
// left the new version "writing" until that descriptor was closed.
func TestTruncateByPathWhileOpen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id, dir := h.draft("Truncate")
	p := filepath.Join(dir, "f")
	h.sh("printf hello > '" + p + "'")
	holder := exec.Command("python3", "-c", "import os,sys\nfd=os.open(sys.argv[1], os.O_WRONLY)\nprint('open', flush=True)\nsys.stdin.read()\nos.close(fd)", p)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = holder.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "open" {
		t.Fatalf("the holder did not open the file: %q %v", line, err)
	}
	h.py("import os,sys\nos.truncate(sys.argv[1], 1)", p) // truncate(2); coreutils truncate uses ftruncate
	h.wantAttachments(id, map[string][]byte{"f": []byte("h")})
	if st := h.state(p); st != "attached" {
		t.Errorf("state after truncate returned: %q, want attached", st)
	}
	_ = stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Errorf("the holder: %v", err)
	}
	h.wantAttachments(id, map[string][]byte{"f": []byte("h")})
}
