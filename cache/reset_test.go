package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokenSiblings lists the directories OpenOrReset moved dir to.
func brokenSiblings(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(dir + ".broken-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenOrReset(t *testing.T) {
	tests := []struct {
		name     string
		breakDir func(t *testing.T, dir string)
	}{
		{
			name: "garbage manifest",
			breakDir: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("this is not a manifest at all"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "a file where the directory should be",
			breakDir: func(t *testing.T, dir string) {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			c, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			fillT(t, c, "old", content(1, 100))
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			tt.breakDir(t, opts.Dir)

			if c, err := Open(opts); err == nil {
				c.Close()
				t.Fatal("Open of a broken cache succeeded")
			}
			c, err = OpenOrReset(opts)
			if err != nil {
				t.Fatalf("OpenOrReset: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			if c.Has("old") {
				t.Error("the fresh cache has old content")
			}
			fillT(t, c, "new", content(2, 100))
			if !bytes.Equal(readAll(t, c, "new"), content(2, 100)) {
				t.Error("fresh cache reads wrong bytes")
			}
			if b := brokenSiblings(t, opts.Dir); len(b) != 1 {
				t.Errorf("moved-aside copies: %v, want one", b)
			}
		})
	}
}

// TestOpenOrResetLeavesLockedCache: a cache in use by someone else is an
// error, not a reset.
func TestOpenOrResetLeavesLockedCache(t *testing.T) {
	opts := testOptions(t)
	c := openT(t, opts)
	fillT(t, c, "kept", content(1, 100))
	if c2, err := OpenOrReset(opts); err == nil {
		c2.Close()
		t.Fatal("OpenOrReset of a cache in use succeeded")
	} else if !strings.Contains(err.Error(), "lock") {
		t.Errorf("err = %v, want a lock error", err)
	}
	if b := brokenSiblings(t, opts.Dir); len(b) != 0 {
		t.Errorf("a cache in use was moved aside: %v", b)
	}
	if !bytes.Equal(readAll(t, c, "kept"), content(1, 100)) {
		t.Error("the cache in use was damaged")
	}
}

func TestDirectoryMode(t *testing.T) {
	opts := testOptions(t)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := openT(t, opts)
	fillT(t, c, "a", content(1, 10))
	fi, err := os.Stat(opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o700 {
		t.Errorf("directory mode %o, want 700", mode)
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without a directory succeeded")
	}
}
