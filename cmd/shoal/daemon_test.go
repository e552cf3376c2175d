package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemonProc is a `shoal daemon` running as a real process.
type daemonProc struct {
	home, id, listen, api, dht string
	cmd                        *exec.Cmd
	done                       chan error
	prefix                     []string    // the command prefix it runs behind
	stderr                     *syncBuffer // what it logged
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
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

// startDaemon starts `shoal daemon` on a fresh home with loopback
// addresses and waits until it prints its addresses.
func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startDaemonAt(t, t.TempDir(), args...)
}

// startDaemonAt starts `shoal daemon` on home. mDNS is off: a test sends
// no multicast on this machine's interfaces (the mDNS tests run in
// network namespaces of their own).
func startDaemonAt(t *testing.T, home string, args ...string) *daemonProc {
	t.Helper()
	return startDaemonIn(t, home, nil, append([]string{"--no-mdns"}, args...)...)
}

// startDaemonIn starts `shoal daemon` on home behind the command prefix
// (`ip netns exec NS`, or none).
func startDaemonIn(t *testing.T, home string, prefix []string, args ...string) *daemonProc {
	t.Helper()
	argv := slices.Concat(prefix, []string{shoalBin, "--home", home, "daemon", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"}, args)
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{home: home, cmd: cmd, done: make(chan error, 1), prefix: prefix, stderr: stderr}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for d.api == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("daemon exited before it was ready: %s", stderr.String())
			}
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "node" {
				d.id = f[2]
			} else if len(f) == 2 && f[0] == "peers" {
				d.listen = f[1]
			} else if len(f) == 3 && f[0] == "dht" {
				d.dht = f[2]
			} else if len(f) == 2 && f[0] == "api" {
				d.api = f[1]
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("daemon did not start in time: %s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemonProc) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		t.Error("daemon did not stop on SIGTERM")
	}
}

func (d *daemonProc) addr() string { return d.id + "@" + d.listen }

// waitPeers waits until `shoal peers` on d lists n peers.
func waitPeers(t *testing.T, d *daemonProc, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process: there is no event to wait on
	defer tick.Stop()
	for {
		out := ok(t, d.home, "peers")
		table, _, _ := strings.Cut(out, "\n\n") // connected peers; banned ones follow
		if got := len(strings.Split(strings.TrimSpace(table), "\n")) - 1; got >= n {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s has not %d peers:\n%s", d.id, n, out)
		case <-tick.C:
		}
	}
}

// TestThreeDaemons adds content on one daemon and fetches it on two others,
// all real processes on loopback, and compares bytes.
func TestThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	a := startDaemon(t)
	b := startDaemon(t, "--peer", a.addr())
	c := startDaemon(t, "--peer", a.addr(), "--peer", b.addr())
	waitPeers(t, a, 2)
	waitPeers(t, c, 2)

	data := make([]byte, 6<<20+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := filepath.Join(t.TempDir(), "data.bin")
	os.WriteFile(src, data, 0o644)
	root := strings.TrimSpace(ok(t, a.home, "add", "-Q", src)) // through a's API

	out := filepath.Join(t.TempDir(), "got.bin")
	ok(t, b.home, "get", root, "-o", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("b's copy differs from the original (%v)", err)
	}
	// get -o kept references into the file it wrote, not copies.
	if st := ok(t, b.home, "stat"); strings.Contains(st, " 0 referenced") {
		t.Fatalf("b's store holds no references after get -o:\n%s", st)
	}
	if cat := ok(t, c.home, "cat", root); cat != string(data) {
		t.Fatalf("c's cat gave %d bytes, not the original's %d", len(cat), len(data))
	}
	ok(t, c.home, "pin", "add", root)
	if pins := ok(t, c.home, "pin", "ls"); !strings.Contains(pins, root) {
		t.Fatalf("c's pins lack %s:\n%s", root, pins)
	}
	if peers := ok(t, b.home, "peers"); !strings.Contains(peers, a.id) {
		t.Fatalf("b's peers lack a:\n%s", peers)
	}
	if id := ok(t, a.home, "id"); !strings.Contains(id, a.addr()) {
		t.Fatalf("id printed %q, want %s", id, a.addr())
	}
}

func TestAPIWantsToken(t *testing.T) {
	d := startDaemon(t, "--no-dht")
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+d.api+"/api/v0/stat", strings.NewReader("{}"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("auth %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	addrs, err := os.ReadFile(filepath.Join(d.home, "addrs"))
	if err != nil || !strings.Contains(string(addrs), "peers "+d.addr()+"\n") || !strings.Contains(string(addrs), "api "+d.api+"\n") {
		t.Fatalf("addrs file %q (%v) lacks the daemon's addresses", addrs, err)
	}
	// With the token (read by the CLI from the home) the same call works.
	ok(t, d.home, "stat")
	// Prometheus metrics: behind the token too.
	token, err := os.ReadFile(filepath.Join(d.home, "api.token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer " + strings.TrimSpace(string(token)), http.StatusOK}} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+d.api+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("/metrics with auth %q: status %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && (!strings.Contains(string(body), "shoal_swarm_block_bytes_total") || !strings.Contains(string(body), "shoal_store_pins")) {
			t.Fatalf("/metrics lacks shoal's metrics:\n%.2000s", body)
		}
	}
	d.stop(t)
	for _, f := range []string{"api", "api.token", "addrs"} {
		if _, err := os.Stat(filepath.Join(d.home, f)); !os.IsNotExist(err) {
			t.Fatalf("%s left behind after a clean stop: %v", f, err)
		}
	}
	// Without a daemon the CLI opens the store itself.
	ok(t, d.home, "stat")
}

// TestDaemonDHT joins one daemon's DHT node to another's and reads the
// routing table through the API.
func TestDaemonDHT(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.dht)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		table := ok(t, b.home, "dht", "table")
		if strings.Contains(table, a.dht) && strings.Contains(table, "on "+b.dht) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("b's DHT table never listed a (%s):\n%s", a.dht, table)
		case <-tick.C:
		}
	}
}

// TestGetThroughDHT: b has no peer address, only a DHT node to join
// through; `shoal get` on b finds a, which announced the content it
// added, through the DHT, connects and fetches it. Real processes.
func TestGetThroughDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemons")
	}
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.dht)
	waitDHTTable(t, b, a.dht)
	if peers := ok(t, b.home, "peers"); strings.Contains(peers, a.id) {
		t.Fatalf("b is connected to a before the get: the test proves nothing\n%s", peers)
	}
	data := make([]byte, 1<<20+3)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(ok(t, a.home, "add", "-Q", src))
	out := filepath.Join(t.TempDir(), "got.bin")
	ok(t, b.home, "get", root, "-o", out)
	// a announced the root it pinned: a DHT lookup by CID finds it.
	provs := ok(t, t.TempDir(), "dht", "providers", root, "--bootstrap", a.dht, "--listen", "127.0.0.1:0")
	if !slices.Contains(strings.Fields(provs), a.listen) {
		t.Fatalf("dht providers printed %q, want a's address %s", provs, a.listen)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("b's copy differs from the original (%v)", err)
	}
	if peers := ok(t, b.home, "peers"); !strings.Contains(peers, a.id) {
		t.Fatalf("b is not connected to a after the get:\n%s", peers)
	}
}

// waitDHTTable waits until d's DHT routing table lists addr.
func waitDHTTable(t *testing.T, d *daemonProc, addr string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls a real process
	defer tick.Stop()
	for {
		table := ok(t, d.home, "dht", "table")
		if strings.Contains(table, addr) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s never entered the DHT table:\n%s", addr, table)
		case <-tick.C:
		}
	}
}

// TestTimeout: a get of content no peer has waits for one, until --timeout
// gives up with a clear error.
func TestTimeout(t *testing.T) {
	d := startDaemon(t, "--no-dht")
	const missing = "bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm"
	start := time.Now()
	r := shoal(t, d.home, nil, "--timeout", "500ms", "get", missing, "-o", filepath.Join(t.TempDir(), "out"))
	if r.code == 0 || !strings.Contains(r.stderr, "gave up after 500ms") {
		t.Fatalf("exit %d, stderr %q: want a failure saying it gave up", r.code, r.stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("gave up after %v", took)
	}
	if r := shoal(t, d.home, nil, "--timeout", "1s", "daemon"); r.code == 0 {
		t.Fatal("--timeout accepted for the daemon")
	}
}
