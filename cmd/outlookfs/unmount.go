package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

func runUnmount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: outlookfs unmount MOUNTPOINT")
	}
	dir := args[0]
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmount %s: %w (close the programs using it, or use umount -l)", dir, err)
		}
		return nil
	}
	out, err := exec.CommandContext(ctx, "fusermount3", "-u", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u %s: %w: %s (is the fuse3 package installed?)", dir, err, out)
	}
	return nil
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: outlookfs status MOUNTPOINT")
	}
	for _, name := range []string{"status", "uploads", "failures"} {
		b, err := os.ReadFile(filepath.Join(args[0], ".outlookfs", name))
		if err != nil {
			return fmt.Errorf("is %s an outlookfs mount? %w", args[0], err)
		}
		fmt.Fprintf(stdout, "== %s\n%s", name, b)
	}
	return nil
}
