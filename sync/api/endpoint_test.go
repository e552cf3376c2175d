package api

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnectBusyOrGone: a stale endpoint (nothing listens) is no daemon;
// a listener that never answers is a daemon too busy to answer, not a
// missing one, and says so.
func TestConnectBusyOrGone(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()
	for _, c := range []struct {
		name, addr string
		noDaemon   bool
		msg        string
	}{
		{"nothing listens", goneAddr, true, ""},
		{"listens, never answers", silent.Addr().String(), false, "did not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			if err := WriteEndpoint(home, c.addr, "token"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := Connect(ctx, home)
			if errors.Is(err, ErrNoDaemon) != c.noDaemon || err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Connect: %v", err)
			}
		})
	}
}
