package graphtest

import (
	"bytes"
	"sync"
)

// LogBuffer collects log output (or a process's stderr) for a test to read while it is still
// being written: the secret scans and failure reports of the tests that drive the emulator.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
