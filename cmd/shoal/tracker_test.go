package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// trackerProc is `shoal tracker` as a real process.
type trackerProc struct {
	udp, http string
	logs      chan string // its log lines
}

func startTracker(t *testing.T) *trackerProc {
	t.Helper()
	cmd := exec.Command(shoalBin, "tracker", "--listen", "127.0.0.1:0", "-v")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	tp := &trackerProc{logs: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			select {
			case tp.logs <- sc.Text():
			default:
			}
		}
	}()
	sc := bufio.NewScanner(out)
	for (tp.udp == "" || tp.http == "") && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "udp" {
			tp.udp = f[1]
		} else if len(f) == 2 && f[0] == "http" {
			tp.http = f[1]
		}
	}
	if tp.udp == "" || tp.http == "" {
		t.Fatal("tracker did not print its addresses")
	}
	return tp
}

// waitAnnounce waits until the tracker logs an announce from port.
func (tp *trackerProc) waitAnnounce(t *testing.T, port string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-tp.logs:
			if strings.Contains(l, "announce") && strings.Contains(l, ":"+port) {
				return
			}
		case <-deadline:
			t.Fatalf("no announce from port %s", port)
		}
	}
}

// TestTrackerOnly: two daemons given only a tracker URL (no --peer, no
// DHT, no mDNS) find each other through it: b's get of what a added is
// fetched from a. Over UDP, then HTTP.
func TestTrackerOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons")
	}
	tp := startTracker(t)
	for i, url := range []string{tp.udp, tp.http} {
		t.Run(strings.TrimSuffix(url[:4], ":"), func(t *testing.T) {
			a := startDaemon(t, "--no-dht", "--tracker", url)
			src := filepath.Join(t.TempDir(), "data.bin")
			data := bytes.Repeat([]byte{byte(i), 1, 2, 3, 4, 5, 6}, 100_000)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			root := strings.TrimSpace(ok(t, a.home, "add", "-Q", src))
			_, aport, _ := strings.Cut(a.listen, ":")
			tp.waitAnnounce(t, aport)
			b := startDaemon(t, "--no-dht", "--tracker", url)
			out := filepath.Join(t.TempDir(), "got.bin")
			ok(t, b.home, "--timeout", "60s", "get", root, "-o", out)
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("b's copy differs (%v)", err)
			}
			if l := peerLine(t, b, a.id); !strings.Contains(l, "tracker") {
				t.Fatalf("a's source on b is not the tracker: %q", l)
			}
		})
	}
}
