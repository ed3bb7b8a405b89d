package spool

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	badger "github.com/dgraph-io/badger/v4"
)

// Spools written before the data files (data.go) kept a file's bytes as Badger
// values: chunk i under f/<id>/c/<%08d>, holding bytes [i*ChunkSize, (i+1)*ChunkSize).
// Open moves the bytes of files still on their way into data files, then drops
// every such key: the spool holds bytes that exist nowhere else.

const legacyChunkInfix = "c/"

// migrateChunks writes the legacy chunks of the files in ids that still need
// their bytes (writing, committed, uploading, without a data file) into data
// files, adds those to data, and drops every legacy chunk key.
func (s *Spool) migrateChunks(ids map[string]bool, records map[string]record, data map[string]int64) error {
	if len(ids) == 0 {
		return nil
	}
	var prefixes [][]byte
	for id := range ids {
		prefixes = append(prefixes, []byte(keyRoot+id+"/"+legacyChunkInfix))
		r, ok := records[id]
		if _, has := data[id]; has || !ok {
			continue
		}
		switch r.State {
		case StateWriting, StateCommitted, StateUploading:
		default:
			continue
		}
		size, err := s.migrateFile(id, r.Size)
		if err != nil {
			return fmt.Errorf("spool: moving %s's bytes out of the database: %w", id, err)
		}
		data[id] = size
		s.log.Info("moved a spooled file's bytes into a data file", "id", id, "size", size)
	}
	if err := s.db.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("spool: dropping old chunk keys: %w", err)
	}
	s.gcValueLog() // Open calls this before any other write can run
	return nil
}

// migrateFile copies file id's legacy chunks into a new data file: first under
// a temporary name (an orphan Open deletes, should this be cut short), synced,
// then renamed into place. size is the recorded size (a file still writing may
// hold more); it returns the data file's size.
func (s *Spool) migrateFile(id string, size int64) (int64, error) {
	tmp := s.dataPath(id) + ".migrating"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, noSpace(err)
	}
	defer f.Close()
	prefix := []byte(keyRoot + id + "/" + legacyChunkInfix)
	end := size
	err = s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			i, err := strconv.ParseInt(string(bytes.TrimPrefix(it.Item().Key(), prefix)), 10, 64)
			if err != nil || i < 0 || i >= s.opts.MaxFileSize/ChunkSize+1 {
				continue
			}
			err = it.Item().Value(func(v []byte) error {
				_, err := f.WriteAt(v, i*ChunkSize)
				end = max(end, i*ChunkSize+int64(len(v)))
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, noSpace(err)
	}
	if err := f.Truncate(end); err != nil {
		return 0, noSpace(err)
	}
	if err := syncData(f); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, s.dataPath(id)); err != nil {
		return 0, err
	}
	if err := s.syncDataDir(); err != nil {
		return 0, err
	}
	return end, nil
}
