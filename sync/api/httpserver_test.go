package api

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveTimeouts serves h with HTTPServer on loopback and returns its
// address.
func serveTimeouts(t *testing.T, h http.Handler, to Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := HTTPServer(h, to)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestDefaultTimeouts: the daemon's API server bounds headers, idle
// keep-alive connections and writes, and has no overall deadline that
// would cut a stream.
func TestDefaultTimeouts(t *testing.T) {
	srv := HTTPServer(http.NotFoundHandler(), DefaultTimeouts())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || DefaultTimeouts().Write <= 0 {
		t.Fatalf("timeouts: header %v idle %v write %v", srv.ReadHeaderTimeout, srv.IdleTimeout, DefaultTimeouts().Write)
	}
	if srv.WriteTimeout != 0 || srv.ReadTimeout != 0 {
		t.Fatalf("whole-request timeouts (write %v, read %v) would cut streams", srv.WriteTimeout, srv.ReadTimeout)
	}
}

// TestIdleConnectionClosed: a keep-alive connection that sends no next
// request is closed by the server.
func TestIdleConnectionClosed(t *testing.T) {
	addr := serveTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), Timeouts{ReadHeader: time.Second, Idle: 50 * time.Millisecond, Write: time.Second})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The connection stays open for another request until the server
	// gives up on it: the read ends with EOF, not our deadline.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %v, want EOF (closed by the server)", err)
	}
}

// TestStreamOutlivesWriteDeadline: a reply whose handler waits between
// writes far longer than the write deadline (a get waiting for a peer)
// arrives whole.
func TestStreamOutlivesWriteDeadline(t *testing.T) {
	const d = 30 * time.Millisecond
	proceed := make(chan struct{})
	addr := serveTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-proceed // the client has read the first line
		// The stimulus, not a wait: a silence ten write deadlines long.
		<-time.NewTimer(10 * d).C
		io.WriteString(w, "second\n")
	}), Timeouts{ReadHeader: time.Second, Idle: time.Second, Write: d})
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(proceed)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("after the silence: %q, %v; want the rest of the stream", rest, err)
	}
}

// TestStalledReaderLetGo: a client that stops reading a large reply makes
// the handler's write fail once a write has waited the deadline, instead
// of holding the handler forever.
func TestStalledReaderLetGo(t *testing.T) {
	failed := make(chan error, 1)
	addr := serveTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(buf); err != nil {
				failed <- err
				return
			}
		}
	}), Timeouts{ReadHeader: time.Second, Idle: time.Second, Write: 50 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Never read.
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("a handler writing to a client that does not read was never let go")
	}
}
