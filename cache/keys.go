package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key layout. Every key starts with a two-byte prefix naming its kind; ids and
// metadata keys follow as raw bytes (they are never file names).
//
//	m/<key>                          metadata record (metaRecord as JSON)
//	s/<id>                           true byte length of an attachment (8 bytes, big endian)
//	e/<id>                           content entry: the "complete" marker and LRU record (entryRecord)
//	c/<len(id) u32><id><index u32>   content chunk
//
// Chunk keys carry the id's length so that one id's chunks never share a
// prefix with another id's.
var (
	prefixMeta  = []byte("m/")
	prefixSize  = []byte("s/")
	prefixEntry = []byte("e/")
	prefixChunk = []byte("c/")
)

func metaKey(key string) []byte { return withPrefix(prefixMeta, key) }
func sizeKey(id string) []byte  { return withPrefix(prefixSize, id) }
func entryKey(id string) []byte { return withPrefix(prefixEntry, id) }
func chunkPrefix(id string) []byte {
	k := make([]byte, 0, len(prefixChunk)+4+len(id))
	k = append(k, prefixChunk...)
	k = binary.BigEndian.AppendUint32(k, uint32(len(id)))
	return append(k, id...)
}

func chunkKey(id string, index int) []byte {
	return binary.BigEndian.AppendUint32(chunkPrefix(id), uint32(index))
}

func withPrefix(prefix []byte, s string) []byte {
	k := make([]byte, 0, len(prefix)+len(s))
	k = append(k, prefix...)
	return append(k, s...)
}

// parseChunkKey returns the id and chunk index of a chunk key.
func parseChunkKey(k []byte) (id string, index int, err error) {
	rest := k[len(prefixChunk):]
	if len(rest) < 4 {
		return "", 0, errors.New("short chunk key")
	}
	n := int(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if len(rest) != n+4 {
		return "", 0, fmt.Errorf("chunk key of %d bytes does not fit an id of %d bytes", len(k), n)
	}
	return string(rest[:n]), int(binary.BigEndian.Uint32(rest[n:])), nil
}

// entryRecord is the on-disk form of a complete content entry: its presence
// marks the content complete; it also carries the last read time for the LRU.
type entryRecord struct {
	Size      int64
	ChunkSize int64 // chunk size the content was stored with
	Access    int64 // last read, Unix nanoseconds (persisted lazily)
}

const entryRecordVersion = 1

func (r entryRecord) marshal() []byte {
	b := make([]byte, 0, 1+3*8)
	b = append(b, entryRecordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.ChunkSize))
	return binary.BigEndian.AppendUint64(b, uint64(r.Access))
}

func unmarshalEntry(b []byte) (entryRecord, error) {
	if len(b) != 1+3*8 || b[0] != entryRecordVersion {
		return entryRecord{}, fmt.Errorf("entry record of %d bytes, version %d: not understood", len(b), firstByte(b))
	}
	r := entryRecord{
		Size:      int64(binary.BigEndian.Uint64(b[1:])),
		ChunkSize: int64(binary.BigEndian.Uint64(b[9:])),
		Access:    int64(binary.BigEndian.Uint64(b[17:])),
	}
	if r.Size < 0 || r.ChunkSize <= 0 {
		return entryRecord{}, fmt.Errorf("entry record with size %d, chunk size %d: not valid", r.Size, r.ChunkSize)
	}
	return r, nil
}

// chunks is the number of chunks the content is stored in.
func (r entryRecord) chunks() int {
	return int((r.Size + r.ChunkSize - 1) / r.ChunkSize)
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

func marshalSize(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func unmarshalSize(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("size record of %d bytes: not understood", len(b))
	}
	n := int64(binary.BigEndian.Uint64(b))
	if n < 0 {
		return 0, fmt.Errorf("negative size record %d", n)
	}
	return n, nil
}
