package spool

import (
	"fmt"

	"syscall"
)

// diskReserve is the free disk space the spool leaves when writing bytes.
// Badger writes its WAL (and value log) through mmap'ed sparse files: on a full
// disk that is a SIGBUS, not an error, so the spool stops writing data while
// there is still room for Badger's own files (memtables, tables, manifest), so
// that records can always be written - a removal, a state change.
const diskReserve = 4*memTableSize + ChunkSize

// diskFree returns the bytes available to us on the spool's file system.
func (s *Spool) diskFree() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.opts.Dir, &st); err != nil {
		return 0, fmt.Errorf("spool: statfs: %w", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkDisk fails with ErrNoSpace unless n more bytes can be written and the
// reserve still be left free.
func (s *Spool) checkDisk(n int64) error {
	free, err := s.diskFree()
	if err != nil {
		return err
	}
	if free < n+diskReserve {
		return fmt.Errorf("%w: %d bytes free on the spool's disk, %d needed", ErrNoSpace, free, n+diskReserve)
	}
	return nil
}

// reserve accounts for delta more bytes held (negative: fewer) against MaxBytes.
// Callers hold s.mu.
func (s *Spool) reserveLocked(delta int64) error {
	if delta > 0 && s.opts.MaxBytes > 0 && s.used+delta > s.opts.MaxBytes {
		return fmt.Errorf("%w: the spool holds %d bytes, its limit is %d", ErrNoSpace, s.used, s.opts.MaxBytes)
	}
	s.used += delta
	return nil
}

// Space is how much the spool can still take, for statfs(2) of the mount.
type Space struct {
	Free  int64 // bytes a writer can still add: the smaller of what MaxBytes and the disk (less its reserve) leave
	Total int64 // MaxBytes, or the size of the spool's disk when that is smaller or there is no limit
}

// Space reports the room left for written files.
func (s *Spool) Space() (Space, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.opts.Dir, &st); err != nil {
		return Space{}, fmt.Errorf("spool: statfs: %w", err)
	}
	sp := Space{
		Free:  max(0, int64(st.Bavail)*st.Bsize-diskReserve),
		Total: int64(st.Blocks) * st.Bsize,
	}
	if limit := s.opts.MaxBytes; limit > 0 {
		s.mu.Lock()
		used := s.used
		s.mu.Unlock()
		sp.Free = min(sp.Free, max(0, limit-used))
		sp.Total = min(sp.Total, limit)
	}
	return sp, nil
}
