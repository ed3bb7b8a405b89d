package spool

import (
	"sync"
	"syscall"
)

// bufPool hands out chunk buffers (ChunkSize bytes each): two per running
// upload (the chunk on the wire and the next one), one per small-file POST.
//
// The buffers are anonymous mappings outside the Go heap: buffers on the heap
// count as live data, and the garbage collector then lets twice as much
// garbage pile up, which about doubled the spool's resident memory in a
// measurement (when Badger still held the bytes). A buffer is owned by
// exactly one holder between get and put.
type bufPool struct {
	mu      sync.Mutex
	free    [][]byte
	maxIdle int
}

func newBufPool(maxIdle int) *bufPool { return &bufPool{maxIdle: maxIdle} }

// get returns a buffer of ChunkSize bytes with unspecified content.
func (p *bufPool) get() []byte {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	b, err := syscall.Mmap(-1, 0, ChunkSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, ChunkSize)
	}
	return b
}

// put gives a buffer back; the caller must not touch it afterwards.
func (p *bufPool) put(b []byte) {
	if b == nil {
		return
	}
	b = b[:ChunkSize:ChunkSize]
	p.mu.Lock()
	if len(p.free) < p.maxIdle {
		p.free = append(p.free, b)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	release(b)
}

// close unmaps the idle buffers.
func (p *bufPool) close() {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, b := range free {
		release(b)
	}
}

// release unmaps a buffer from get; a heap fallback buffer is left to the GC.
func release(b []byte) {
	if err := syscall.Munmap(b); err != nil {
		_ = err // a heap buffer (mmap had failed): the GC takes it
	}
}
