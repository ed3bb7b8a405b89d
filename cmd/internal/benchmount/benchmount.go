// Package benchmount runs the built outlookfs binary as its own mount process against an
// emulator, for the benchmarks (cmd/outlookfs-bench-soak, cmd/outlookfs-bench-sdk): what they
// measure is the real program, and its memory is that process's alone.
package benchmount

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// Mount is one `outlookfs mount` process.
type Mount struct {
	Dir  string // the mountpoint
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error

	stopSampling chan struct{}
	sampled      chan struct{}
	mu           sync.Mutex
	peakAnon     int64

	stopOnce sync.Once
	stopErr  error
}

// Start runs `bin mount` with its XDG directories (spool, cache) and mountpoint under home,
// against srv with token, and waits until it is mounted. extra are more mount flags (--async).
func Start(bin, home string, srv *graphtest.Server, token string, extra ...string) (*Mount, error) {
	tokenFile := filepath.Join(home, "token")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("mount home: %w", err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	dir := filepath.Join(home, "mnt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	}
	args := append([]string{"mount", dir, "--graph-url", srv.GraphURL, "--token-file", tokenFile, "--ca-file", srv.CAFile}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	m := &Mount{Dir: dir, cmd: cmd, logs: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = m.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { m.done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !IsMountpoint(dir) {
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("%s never got mounted: %s", dir, m.logs.String())
		}
		select {
		case err := <-m.done:
			m.done <- err
			return nil, fmt.Errorf("outlookfs mount exited before mounting: %v: %s", err, m.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return m, nil
}

// Pid is the mount process's id.
func (m *Mount) Pid() int { return m.cmd.Process.Pid }

// Logs is what the mount process wrote to stderr so far.
func (m *Mount) Logs() string { return m.logs.String() }

// Stop unmounts with SIGTERM and waits for the process to exit; after a minute it detaches
// the mount and kills the process. Calls after the first return the first's result.
func (m *Mount) Stop() error {
	m.stopOnce.Do(func() { m.stopErr = m.stop() })
	return m.stopErr
}

func (m *Mount) stop() error {
	m.StopSampling()
	m.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-m.done:
	case <-time.After(time.Minute):
		err = errors.New("outlookfs mount did not exit within a minute of SIGTERM")
		m.cmd.Process.Kill()
		<-m.done
	}
	if IsMountpoint(m.Dir) {
		syscall.Unmount(m.Dir, syscall.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("stop: %w: %s", err, m.logs.String())
	}
	return nil
}

// Memory is a process's memory from /proc/PID/status, in bytes.
type Memory struct {
	RssAnon int64 // anonymous resident memory now
	VmHWM   int64 // the kernel's peak resident set (anonymous and file pages)
}

// Memory reads the mount process's memory now.
func (m *Mount) Memory() (Memory, error) { return ReadMemory(m.Pid()) }

// ReadMemory reads RssAnon and VmHWM of process pid.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("memory: %w", err)
	}
	defer f.Close()
	var mem Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for key, to := range map[string]*int64{"RssAnon:": &mem.RssAnon, "VmHWM:": &mem.VmHWM} {
			if v, ok := strings.CutPrefix(sc.Text(), key); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					return Memory{}, fmt.Errorf("memory: %s: %w", key, err)
				}
				*to = kb << 10
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("memory: %w", err)
	}
	return mem, nil
}

// StartSampling samples the mount process's RssAnon every interval until StopSampling.
func (m *Mount) StartSampling(interval time.Duration) {
	m.stopSampling, m.sampled = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.sampled)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if mem, err := m.Memory(); err == nil {
				m.mu.Lock()
				m.peakAnon = max(m.peakAnon, mem.RssAnon)
				m.mu.Unlock()
			}
			select {
			case <-m.stopSampling:
				return
			case <-t.C:
			}
		}
	}()
}

// StopSampling ends the sampling (if any) and returns the highest RssAnon seen.
func (m *Mount) StopSampling() int64 {
	if m.stopSampling != nil {
		close(m.stopSampling)
		<-m.sampled
		m.stopSampling = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peakAnon
}

// IsMountpoint tells whether dir is a mountpoint (from /proc/self/mountinfo).
func IsMountpoint(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// Run runs a command and returns how long it took; a failure carries its output.
func Run(ctx context.Context, name string, args ...string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return time.Since(start), nil
}

// MiB formats a byte count in MiB.
func MiB(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
