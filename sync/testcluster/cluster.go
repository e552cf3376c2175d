package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build builds the shoal binary into a temporary directory and returns
// its path and a cleanup; call it from TestMain.
func Build() (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "shoal-cluster-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "shoal")
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/shoal")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build shoal: %w", err)
	}
	statSources(root)
	return bin, func() { os.RemoveAll(dir) }, nil
}

// statSources stats the module's sources so that go test's cache, which
// knows only the files a test opened, never keeps a stale pass after a
// change to the binary built from them.
func statSources(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			os.Stat(p)
		}
		return nil
	})
}

// Node is one daemon process.
type Node struct {
	t      testing.TB
	bin    string
	Name   string
	Home   string
	ID     string
	Listen string
	API    string
	args   []string
	user   *runAs // run as this user; nil: as the test
	cmd    *exec.Cmd
	exited chan struct{} // closed once the daemon has exited
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts a daemon named name on a fresh home; args are more daemon
// flags (such as --peer).
func Start(t testing.TB, bin, name string, args ...string) *Node {
	t.Helper()
	n := &Node{t: t, bin: bin, Name: name, Home: t.TempDir(), args: args}
	n.start()
	t.Cleanup(func() { n.Stop() })
	return n
}

// StartAs is Start with the daemon and the node's commands run as user
// uid:gid (a test running as root sees files a user cannot read). home
// must be a directory that user owns, and bin a binary it can run.
func StartAs(t testing.TB, bin, name, home string, uid, gid uint32, args ...string) *Node {
	t.Helper()
	n := &Node{t: t, bin: bin, Name: name, Home: home, args: args, user: &runAs{uid: uid, gid: gid}}
	n.start()
	t.Cleanup(func() { n.Stop() })
	return n
}

func (n *Node) start() {
	n.t.Helper()
	args := append([]string{"--home", n.Home, "daemon", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-dht", "--no-mdns", "-v"}, n.args...)
	if n.Listen != "" { // a restart keeps its address, so peers find it again
		args[4] = n.Listen
	}
	cmd := exec.Command(n.bin, args...)
	setUser(cmd, n.user)
	out, err := cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	n.stderr = &syncBuffer{}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	api := ""
	for api == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				close(n.exited)
				n.t.Fatalf("%s: daemon exited before it was ready: %s", n.Name, n.stderr)
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "node":
				n.ID = f[2]
			case len(f) == 2 && f[0] == "peers":
				n.Listen = f[1]
			case len(f) == 2 && f[0] == "api":
				api = f[1]
			}
		case <-deadline:
			cmd.Process.Kill()
			go func() {
				for range lines {
				}
			}()
			cmd.Wait()
			close(n.exited)
			n.t.Fatalf("%s: daemon did not start: %s", n.Name, n.stderr)
		}
	}
	n.API = api
	go func() {
		for range lines {
		}
		cmd.Wait()
		close(n.exited)
	}()
}

// runAs is a user to run a node's processes as.
type runAs struct{ uid, gid uint32 }

// Addr is the node's NODEID@HOST:PORT.
func (n *Node) Addr() string { return n.ID + "@" + n.Listen }

// Log returns what the daemon wrote to stderr.
func (n *Node) Log() string { return n.stderr.String() }

// Stop stops the daemon with SIGTERM (a no-op if it is not running).
func (n *Node) Stop() {
	if !n.running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("%s: daemon did not stop on SIGTERM", n.Name)
	}
}

// Kill kills the daemon with SIGKILL, as a crash would.
func (n *Node) Kill() {
	if !n.running() {
		return
	}
	n.cmd.Process.Kill()
	<-n.exited
}

// running reports whether the daemon was started and has not exited.
func (n *Node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Restart starts the daemon again on its home and address.
func (n *Node) Restart() {
	n.t.Helper()
	n.start()
}

// Shoal runs a shoal command against the node's home.
func (n *Node) Shoal(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin, append([]string{"--home", n.Home}, args...)...)
	setUser(cmd, n.user)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("shoal %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// Must runs a shoal command and fails the test on error.
func (n *Node) Must(args ...string) string {
	n.t.Helper()
	out, err := n.Shoal(args...)
	if err != nil {
		n.t.Fatalf("%s: %v", n.Name, err)
	}
	return out
}

// Share shares dir and returns its read-write and read-only keys.
func (n *Node) Share(dir string) (rw, ro string) {
	n.t.Helper()
	out := n.Must("share", dir)
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		k := f[len(f)-1]
		switch {
		case strings.HasPrefix(k, "shoal:rw:"):
			rw = k
		case strings.HasPrefix(k, "shoal:ro:"):
			ro = k
		}
	}
	if rw == "" || ro == "" {
		n.t.Fatalf("share printed no keys: %s", out)
	}
	return rw, ro
}

// FolderStatus is the part of `shoal status --json` tests look at.
type FolderStatus struct {
	Path         string   `json:"path"`
	State        string   `json:"state"`
	Error        string   `json:"error"`
	NeedFiles    int      `json:"need_files"`
	Files        int      `json:"files"`
	Peers        []string `json:"peers"`
	Conflicts    []string `json:"conflicts"`
	LocalChanged int      `json:"local_changed"`
	PathErrors   []struct {
		Path string `json:"path"`
		Err  string `json:"error"`
	} `json:"path_errors"`
}

// Status returns the node's folders.
func (n *Node) Status() []FolderStatus {
	n.t.Helper()
	var st []FolderStatus
	if err := json.Unmarshal([]byte(n.Must("status", "--json")), &st); err != nil {
		n.t.Fatal(err)
	}
	return st
}

// token reads the API token from the home.
func (n *Node) token() string {
	b, err := os.ReadFile(filepath.Join(n.Home, "api.token"))
	if err != nil {
		n.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Events subscribes to the daemon's event stream; each event is sent on
// the channel (its raw JSON) until ctx ends.
func (n *Node) Events(ctx context.Context) <-chan json.RawMessage {
	n.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.API+"/api/v0/events", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("events: %s", resp.Status)
	}
	ch := make(chan json.RawMessage, 256)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
				select {
				case ch <- json.RawMessage(append([]byte(nil), l...)):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}

// Until waits until cond holds, checking it again on every event of any
// of nodes (and at least every 250 ms, for changes no event announces,
// such as a file written by the test itself), up to timeout.
func Until(t testing.TB, timeout time.Duration, nodes []*Node, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wake := make(chan struct{}, 1)
	for _, n := range nodes {
		ch := n.Events(ctx)
		go func() {
			for range ch {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			for _, n := range nodes {
				t.Logf("%s log:\n%s", n.Name, tail(n.Log(), 40))
			}
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		case <-wake:
		case <-tick.C:
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metrics returns the daemon's /metrics text.
func (n *Node) Metrics() string {
	n.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.API+"/metrics", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}
