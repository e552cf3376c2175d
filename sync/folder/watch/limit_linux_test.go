package watch

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

const limitChildEnv = "SHOAL_WATCH_LIMIT_CHILD"

// TestWatchLimitKernel reaches the real inotify limit: it runs itself in a
// new user namespace, whose limit (/proc/sys/user/max_inotify_watches,
// Linux 5.11+) it may lower without touching the machine's, and watches
// more directories than that.
func TestWatchLimitKernel(t *testing.T) {
	if os.Getenv(limitChildEnv) == "1" {
		watchLimitChild(t)
		return
	}
	if _, err := os.Stat("/proc/sys/user/max_inotify_watches"); err != nil {
		t.Skipf("no per-namespace inotify limit on this kernel: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchLimitKernel$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), limitChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Skipf("cannot start a user namespace here (needs root or unprivileged user namespaces): %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWatchLimitKernel") {
		t.Fatalf("child in a user namespace: %v\n%s", err, out)
	}
}

func watchLimitChild(t *testing.T) {
	const limit = 4
	if err := os.WriteFile("/proc/sys/user/max_inotify_watches", []byte("4\n"), 0); err != nil {
		t.Fatalf("lower the namespace's inotify limit: %v", err)
	}
	tt := start(t, Options{}, "a/", "b/", "c/", "d/", "e/", "f/", "g/")
	err := tt.w.Degraded()
	if !errors.Is(err, ErrWatchLimit) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("with %d watches allowed for 8 directories: Degraded = %v, want ErrWatchLimit wrapping ENOSPC", limit, err)
	}
	t.Logf("Degraded: %v", err)
	tt.make("at-root")
	tt.wait("at-root")
}
