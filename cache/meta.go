package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// metaRecord is a stored metadata value with the time it was stored.
type metaRecord struct {
	Stored time.Time       `json:"stored"`
	Value  json.RawMessage `json:"value"`
}

// PutMeta stores v as JSON under key, with the current time.
func (c *Cache) PutMeta(key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache: encode metadata: %w", err)
	}
	rec, err := json.Marshal(metaRecord{Stored: time.Now(), Value: raw})
	if err != nil {
		return fmt.Errorf("cache: encode metadata: %w", err)
	}
	if err := c.update(func(txn *badger.Txn) error { return txn.Set(metaKey(key), rec) }); err != nil {
		return fmt.Errorf("cache: store metadata: %w", err)
	}
	return nil
}

// GetMeta decodes the value stored under key into v and returns the time it
// was stored; ok is false when nothing is stored under key.
func (c *Cache) GetMeta(key string, v any) (stored time.Time, ok bool, err error) {
	var rec metaRecord
	err = c.view(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(key))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &rec) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("cache: read metadata: %w", err)
	}
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return time.Time{}, false, fmt.Errorf("cache: decode metadata: %w", err)
	}
	return rec.Stored, true, nil
}

// DeleteMeta removes the value stored under key, if any.
func (c *Cache) DeleteMeta(key string) error {
	if err := c.update(func(txn *badger.Txn) error { return txn.Delete(metaKey(key)) }); err != nil {
		return fmt.Errorf("cache: delete metadata: %w", err)
	}
	return nil
}
