package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// BenchmarkReadAt reads cached content sequentially, in the sizes the kernel
// and cp ask for.
func BenchmarkReadAt(b *testing.B) {
	const size = 16 << 20
	c := openT(b, testOptions(b))
	fillT(b, c, "att", content(1, size))
	for _, bs := range []int{4 << 10, 128 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", bs>>10), func(b *testing.B) {
			p := make([]byte, bs)
			b.SetBytes(int64(bs))
			var off int64
			for b.Loop() {
				_, err := c.ReadAt("att", p, off)
				if err != nil && !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				off += int64(bs)
				if off >= size {
					off = 0
				}
			}
		})
	}
}

// BenchmarkFill stores 16 MiB streams.
func BenchmarkFill(b *testing.B) {
	const size = 16 << 20
	c := openT(b, testOptions(b))
	data := content(1, size)
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Fill(b.Context(), fmt.Sprint(i), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
