package auth

import (
	"fmt"
	"io"
	"os/exec"
	"runtime"
)

// defaultOpenURL prints the sign-in URL (so it can be opened by hand, for
// example when no browser starts) and asks the desktop to open it.
func defaultOpenURL(out io.Writer) func(string) error {
	return func(u string) error {
		fmt.Fprintf(out, "Opening the sign-in page in your browser. If it does not open, visit:\n\n  %s\n\n", u)
		name := "xdg-open"
		if runtime.GOOS == "darwin" {
			name = "open"
		}
		cmd := exec.Command(name, u)
		if err := cmd.Start(); err != nil {
			return nil // the printed URL is the fallback
		}
		go func() { _ = cmd.Wait() }()
		return nil
	}
}
