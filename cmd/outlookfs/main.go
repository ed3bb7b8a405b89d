// Command outlookfs mounts an Outlook mailbox through Microsoft Graph: drafts and calendar
// events are directories, their attachments are files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"mount":    {"mount a mailbox: outlookfs mount MOUNTPOINT [flags]", runMount},
		"unmount":  {"unmount: outlookfs unmount MOUNTPOINT", runUnmount},
		"status":   {"show a mount's uploads and failures: outlookfs status MOUNTPOINT", runStatus},
		"demo":     {"mount a demo mailbox served by the built-in emulator: outlookfs demo MOUNTPOINT", runDemo},
		"emulator": {"serve a local Microsoft Graph emulator for offline scripts and tests", runEmulator},
		"login":    {"sign in (device code by default, --browser for the browser flow)", runLogin},
		"logout":   {"forget a profile's sign-in", runLogout},
		"whoami":   {"show who a profile is signed in as", runWhoami},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: outlookfs COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'outlookfs COMMAND -h' for a command's flags.")
}

func main() {
	// Everything outlookfs keeps on disk is private: the token cache, the spool (its Badger files
	// hold upload session URLs, which are credentials) and the cache. Badger creates its files
	// 0666 less the umask and has no setting for it, so the umask must do it.
	syscall.Umask(0o077)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "outlookfs: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "outlookfs %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
