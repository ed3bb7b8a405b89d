package spool

import (
	"os"
	"syscall"
)

// allocated is the disk space a file takes (its blocks, not its apparent size:
// Badger's files are sparse).
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
