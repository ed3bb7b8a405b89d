package spoolbench

import (
	"fmt"
	"io"
)

// writeSize is the size of one write, as cp makes them.
const writeSize = 128 << 10

// blockSize is the period of the benchmark's bytes: a precomputed block is
// written again and again, so making the bytes costs nothing while timing
// (the spool does not compress, so repetition does not flatter it).
const blockSize = 1 << 20

// newBlock returns blockSize deterministic, incompressible-looking bytes.
func newBlock() []byte {
	b := make([]byte, blockSize)
	var x uint64 = 0x9E3779B97F4A7C15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 56)
	}
	return b
}

// piece returns the bytes to write at off (at most writeSize, within size).
func piece(block []byte, off, size int64) []byte {
	in := off % blockSize
	n := min(int64(writeSize), blockSize-in, size-off)
	return block[in : in+n]
}

// blockReader reads size bytes of the repeated block.
type blockReader struct {
	block []byte
	size  int64
}

func (r blockReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off+int64(n) < r.size {
		pos := off + int64(n)
		n += copy(p[n:min(len(p), n+int(r.size-pos))], r.block[pos%blockSize:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// writeAll writes size bytes of block's pattern to w in block-sized writes.
func writeAll(w io.WriterAt, block []byte, size int64) error {
	for off := int64(0); off < size; {
		p := piece(block, off, size)
		if _, err := w.WriteAt(p, off); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		off += int64(len(p))
	}
	return nil
}
