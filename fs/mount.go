package fs

import (
	"fmt"
	"os"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountOptions are the FUSE-level settings of a mount.
type MountOptions struct {
	Debug      bool
	AllowOther bool
}

// Mount mounts the filesystem at dir and returns the running server; call Unmount (or
// fusermount3 -u) to stop it and Wait to wait for that.
func Mount(dir string, f *FS, mo MountOptions) (*fuse.Server, error) {
	entry := time.Second
	attr := time.Second
	negative := time.Duration(0)
	opts := &gofs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &negative,
		// Every node gives its permissions; mode 0 is one of them (go-fuse would show 0644).
		NullPermissions: true,
		UID:             uint32(os.Getuid()),
		GID:             uint32(os.Getgid()),
		MountOptions: fuse.MountOptions{
			FsName:               "outlookfs",
			Name:                 "outlookfs",
			MaxWrite:             1 << 20,
			IgnoreSecurityLabels: true,
			Debug:                mo.Debug,
			AllowOther:           mo.AllowOther,
			// As root, mount(2) directly; other users need fusermount3 (Debian: fuse3).
			DirectMountStrict: os.Geteuid() == 0,
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		},
	}
	server, err := gofs.Mount(dir, f.Root(), opts)
	if err != nil {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("mount %s: %w (as a normal user outlookfs needs fusermount3: install the fuse3 package)", dir, err)
		}
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return server, nil
}
