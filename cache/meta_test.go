package cache

import (
	"testing"
	"time"
)

type listing struct {
	Items []string `json:"items"`
	Next  string   `json:"next,omitempty"`
}

func TestMeta(t *testing.T) {
	c := openT(t, testOptions(t))
	tests := []struct {
		name string
		key  string
		put  []listing // stored in order; the last one is expected back
	}{
		{name: "one value", key: "drafts", put: []listing{{Items: []string{"a", "b"}}}},
		{name: "overwritten", key: "events", put: []listing{{Items: []string{"x"}}, {Items: []string{"y", "z"}, Next: "tok"}}},
		{name: "binary key", key: "att/\x00\xff/ü", put: []listing{{Items: []string{}}}},
		{name: "empty key", key: "", put: []listing{{Next: "n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			for _, v := range tt.put {
				if err := c.PutMeta(tt.key, v); err != nil {
					t.Fatalf("PutMeta: %v", err)
				}
			}
			after := time.Now()
			var got listing
			stored, ok, err := c.GetMeta(tt.key, &got)
			if err != nil || !ok {
				t.Fatalf("GetMeta = ok %v, err %v", ok, err)
			}
			want := tt.put[len(tt.put)-1]
			if len(got.Items) != len(want.Items) || got.Next != want.Next {
				t.Fatalf("GetMeta = %+v, want %+v", got, want)
			}
			for i := range want.Items {
				if got.Items[i] != want.Items[i] {
					t.Fatalf("GetMeta = %+v, want %+v", got, want)
				}
			}
			if stored.Before(before) || stored.After(after) {
				t.Errorf("stored time %v not within [%v, %v]", stored, before, after)
			}

			if err := c.DeleteMeta(tt.key); err != nil {
				t.Fatalf("DeleteMeta: %v", err)
			}
			if _, ok, err := c.GetMeta(tt.key, &got); ok || err != nil {
				t.Fatalf("GetMeta after delete = ok %v, err %v; want not found", ok, err)
			}
		})
	}
}

func TestMetaMissingAndMismatched(t *testing.T) {
	c := openT(t, testOptions(t))
	var l listing
	if stored, ok, err := c.GetMeta("nothing", &l); ok || err != nil || !stored.IsZero() {
		t.Fatalf("GetMeta(missing) = %v, %v, %v", stored, ok, err)
	}
	if err := c.DeleteMeta("nothing"); err != nil {
		t.Fatalf("DeleteMeta(missing): %v", err)
	}
	if err := c.PutMeta("n", 42); err != nil {
		t.Fatalf("PutMeta: %v", err)
	}
	if _, ok, err := c.GetMeta("n", &l); err == nil || ok {
		t.Fatalf("GetMeta into the wrong type = ok %v, err %v; want an error", ok, err)
	}
	if err := c.PutMeta("bad", func() {}); err == nil {
		t.Fatal("PutMeta of a func succeeded")
	}
}

func TestMetaPersists(t *testing.T) {
	opts := testOptions(t)
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutMeta("k", listing{Items: []string{"kept"}}); err != nil {
		t.Fatal(err)
	}
	_, _, _ = c.GetMeta("k", &listing{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openT(t, opts)
	var got listing
	stored, ok, err := c.GetMeta("k", &got)
	if err != nil || !ok || len(got.Items) != 1 || got.Items[0] != "kept" || stored.IsZero() {
		t.Fatalf("after reopen: %+v, %v, %v, %v", got, stored, ok, err)
	}
}
