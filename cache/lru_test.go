package cache

import (
	"bytes"
	"slices"
	"testing"
)

// TestEvictionOrder fills A, B, C (each a third of MaxBytes), reads some of
// them, fills D, and checks which entry went.
func TestEvictionOrder(t *testing.T) {
	const each = 300
	tests := []struct {
		name    string
		read    []string
		evicted string
	}{
		{name: "no reads: oldest fill goes", read: nil, evicted: "A"},
		{name: "read A: B goes", read: []string{"A"}, evicted: "B"},
		{name: "read A then B: C goes", read: []string{"A", "B"}, evicted: "C"},
		{name: "read C, A, B: C goes", read: []string{"C", "A", "B"}, evicted: "C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.MaxBytes = 3 * each
			opts.chunkSize = 128
			c := openT(t, opts)
			for i, id := range []string{"A", "B", "C"} {
				fillT(t, c, id, content(uint64(i), each))
			}
			for _, id := range tt.read {
				if _, err := c.ReadAt(id, make([]byte, 10), 5); err != nil {
					t.Fatalf("ReadAt(%s): %v", id, err)
				}
			}
			fillT(t, c, "D", content(3, each))
			checkCached(t, c, tt.evicted, "A", "B", "C", "D")
			if got := used(c); got != 3*each {
				t.Errorf("used = %d, want %d", got, 3*each)
			}
			if keys := storedKeys(t, c, chunkPrefix(tt.evicted)); len(keys) != 0 {
				t.Errorf("%d chunks of the evicted entry left", len(keys))
			}
		})
	}
}

// checkCached checks that exactly the ids other than evicted are cached,
// with their content intact (content seed = position in all).
func checkCached(t *testing.T, c *Cache, evicted string, all ...string) {
	t.Helper()
	for i, id := range all {
		if id == evicted {
			if c.Has(id) {
				t.Errorf("%s still cached, want it evicted", id)
			}
			continue
		}
		if !c.Has(id) {
			t.Errorf("%s evicted, want %s evicted", id, evicted)
			continue
		}
		size, _ := c.Size(id)
		if !bytes.Equal(readAll(t, c, id), content(uint64(i), int(size))) {
			t.Errorf("%s: wrong content", id)
		}
	}
}

// TestLRUPersists checks that content and read order survive Close/Open.
func TestLRUPersists(t *testing.T) {
	const each = 1000
	opts := testOptions(t)
	opts.MaxBytes = 3 * each
	opts.chunkSize = 256
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"A", "B", "C"} {
		fillT(t, c, id, content(uint64(i), each))
	}
	if _, err := c.ReadAt("A", make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	c = openT(t, opts)
	if got := used(c); got != 3*each {
		t.Fatalf("used after reopen = %d, want %d", got, 3*each)
	}
	var order []string
	for el := c.lru.Front(); el != nil; el = el.Next() {
		order = append(order, el.Value.(*entry).id)
	}
	if want := []string{"A", "C", "B"}; !slices.Equal(order, want) {
		t.Fatalf("LRU order after reopen = %v, want %v", order, want)
	}
	fillT(t, c, "D", content(3, each))
	checkCached(t, c, "B", "A", "B", "C", "D")
}

// TestLowerMaxBytesOnOpen evicts down to a smaller limit when reopened.
func TestLowerMaxBytesOnOpen(t *testing.T) {
	opts := testOptions(t)
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"A", "B", "C"} {
		fillT(t, c, id, content(uint64(i), 100))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	opts.MaxBytes = 250
	c = openT(t, opts)
	checkCached(t, c, "A", "A", "B", "C")
}

// TestEntryLargerThanMaxBytes keeps an oversized entry alone until the next fill.
func TestEntryLargerThanMaxBytes(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 1000
	opts.chunkSize = 256
	c := openT(t, opts)
	fillT(t, c, "A", content(0, 400))
	fillT(t, c, "B", content(1, 3000))
	checkCached(t, c, "A", "A", "B")
	fillT(t, c, "C", content(2, 10))
	if c.Has("A") || c.Has("B") || !c.Has("C") {
		t.Errorf("after filling C: Has(A) %v, Has(B) %v, Has(C) %v; want only C", c.Has("A"), c.Has("B"), c.Has("C"))
	}
	if got := used(c); got != 10 {
		t.Errorf("used = %d, want 10", got)
	}
}
