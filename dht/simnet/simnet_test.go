package simnet

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func listen(t *testing.T, n *Network, addr string) *Conn {
	t.Helper()
	c, err := n.Listen(ap(addr))
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return c
}

// arrival is one received packet with the fake time it arrived.
type arrival struct {
	data string
	from netip.AddrPort
	at   time.Duration
}

// readAll reads from c until it is closed, recording the arrival times
// relative to start.
func readAll(c *Conn, start time.Time) <-chan []arrival {
	out := make(chan []arrival, 1)
	go func() {
		var got []arrival
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				out <- got
				return
			}
			got = append(got, arrival{string(buf[:n]), from, time.Since(start)})
		}
	}()
	return out
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name            string
		latency, jitter time.Duration
	}{
		{"zero", 0, 0},
		{"fixed", 50 * time.Millisecond, 0},
		{"jitter", 50 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(Options{Link: Link{Latency: tt.latency, Jitter: tt.jitter}, Seed: 7, QueueLen: 1000})
				defer n.Close()
				a := listen(t, n, "10.0.0.1:1000")
				b := listen(t, n, "10.0.0.2:2000")
				start := time.Now()
				got := readAll(b, start)
				const count = 200
				sentAt := make(map[string]time.Duration)
				for i := range count {
					msg := fmt.Sprintf("m%03d", i)
					sentAt[msg] = time.Since(start)
					if _, err := a.WriteTo([]byte(msg), b.LocalAddr()); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Millisecond) // fake time: spread the sends
				}
				time.Sleep(tt.latency + tt.jitter + time.Millisecond)
				b.Close()
				arr := <-got
				if len(arr) != count {
					t.Fatalf("received %d packets, want %d", len(arr), count)
				}
				var sum time.Duration
				for i, x := range arr {
					if x.from != a.AddrPort() {
						t.Fatalf("packet from %v, want %v", x.from, a.AddrPort())
					}
					d := x.at - sentAt[x.data]
					if d < tt.latency-tt.jitter || d > tt.latency+tt.jitter {
						t.Fatalf("packet %s took %v, want %v ± %v", x.data, d, tt.latency, tt.jitter)
					}
					if i > 0 && x.at < arr[i-1].at {
						t.Fatalf("packet %s arrived at %v before the previous one at %v", x.data, x.at, arr[i-1].at)
					}
					sum += d
				}
				mean := sum / count
				if diff := (mean - tt.latency).Abs(); diff > tt.jitter/5 {
					t.Errorf("mean latency %v, want %v (±%v)", mean, tt.latency, tt.jitter/5)
				}
				if tt.jitter > 0 {
					// With jitter larger than the send spacing, some packets overtake others.
					reordered := 0
					for i := 1; i < len(arr); i++ {
						if arr[i].data < arr[i-1].data {
							reordered++
						}
					}
					if reordered == 0 {
						t.Error("jitter of 20 ms with 1 ms spacing reordered nothing")
					}
				}
				if st := n.Stats(); st.Sent != count || st.Delivered != count || st.Dropped() != 0 {
					t.Errorf("stats %+v, want %d sent and delivered, none dropped", st, count)
				}
			})
		})
	}
}

// lossRun sends count packets from one conn and returns which ones arrived.
func lossRun(t *testing.T, seed uint64, loss float64, count int) ([]bool, Stats) {
	var received []bool
	var st Stats
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{Link: Link{Latency: 10 * time.Millisecond, Loss: loss}, Seed: seed, QueueLen: count})
		defer n.Close()
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		for i := range count {
			if _, err := a.WriteTo(fmt.Appendf(nil, "%d", i), b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		received = make([]bool, count)
		if err := b.SetReadDeadline(time.Now()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		for {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				break
			}
			var i int
			fmt.Sscanf(string(buf[:k]), "%d", &i)
			received[i] = true
		}
		st = n.Stats()
	})
	return received, st
}

func TestLoss(t *testing.T) {
	const count = 20000
	for _, loss := range []float64{0, 0.01, 0.1, 0.5} {
		t.Run(fmt.Sprint(loss), func(t *testing.T) {
			got, st := lossRun(t, 42, loss, count)
			delivered := 0
			for _, ok := range got {
				if ok {
					delivered++
				}
			}
			if uint64(delivered) != st.Delivered || st.Lost+st.Delivered != count {
				t.Fatalf("received %d, stats %+v", delivered, st)
			}
			rate := float64(st.Lost) / count
			// 4 standard deviations of a binomial proportion.
			tol := 4 * math.Sqrt(loss*(1-loss)/count)
			if math.Abs(rate-loss) > tol {
				t.Errorf("loss rate %.4f, want %.4f ± %.4f", rate, loss, tol)
			}
			again, _ := lossRun(t, 42, loss, count)
			for i := range got {
				if got[i] != again[i] {
					t.Fatalf("seed 42 run twice: packet %d delivered %v then %v", i, got[i], again[i])
				}
			}
			if loss > 0 {
				other, _ := lossRun(t, 43, loss, count)
				same := true
				for i := range got {
					same = same && got[i] == other[i]
				}
				if same {
					t.Error("seeds 42 and 43 lost the same packets")
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{Link: Link{Latency: 50 * time.Millisecond}})
		defer n.Close()
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		buf := make([]byte, 64)

		// A deadline in the past fails at once.
		b.SetReadDeadline(time.Now().Add(-time.Second))
		start := time.Now()
		if _, _, err := b.ReadFrom(buf); !isTimeout(err) {
			t.Fatalf("read past deadline: %v, want timeout", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("read past deadline blocked %v", time.Since(start))
		}

		// A deadline 30 ms away fires before a packet 50 ms away arrives.
		b.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		a.WriteTo([]byte("hello"), b.LocalAddr())
		start = time.Now()
		if _, _, err := b.ReadFrom(buf); !isTimeout(err) {
			t.Fatalf("read: %v, want timeout", err)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Fatalf("deadline fired after %v, want 30ms", d)
		}

		// Extending the deadline lets the packet in at 50 ms.
		b.SetReadDeadline(time.Now().Add(time.Second))
		k, from, err := b.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "hello" || from.String() != "10.0.0.1:1" {
			t.Fatalf("read = %q from %v, %v", buf[:k], from, err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("packet arrived after %v, want 50ms", d)
		}

		// Clearing the deadline blocks until a packet comes.
		b.SetDeadline(time.Time{})
		go func() {
			time.Sleep(time.Hour)
			a.WriteTo([]byte("late"), b.LocalAddr())
		}()
		start = time.Now()
		k, _, err = b.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "late" {
			t.Fatalf("read = %q, %v", buf[:k], err)
		}
		if d := time.Since(start); d != time.Hour+50*time.Millisecond {
			t.Fatalf("read returned after %v", d)
		}

		// Moving a pending deadline earlier wakes a blocked reader.
		b.SetReadDeadline(time.Now().Add(time.Hour))
		done := make(chan error)
		go func() { _, _, err := b.ReadFrom(buf); done <- err }()
		synctest.Wait()
		b.SetReadDeadline(time.Now())
		if err := <-done; !isTimeout(err) {
			t.Fatalf("read after deadline moved: %v, want timeout", err)
		}
	})
}

func TestWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{})
		defer n.Close()
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		a.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := a.WriteTo([]byte("x"), b.LocalAddr()); err != nil {
			t.Fatalf("write before deadline: %v", err)
		}
		time.Sleep(time.Second)
		if _, err := a.WriteTo([]byte("x"), b.LocalAddr()); !isTimeout(err) {
			t.Fatalf("write after deadline: %v, want timeout", err)
		}
		a.SetWriteDeadline(time.Time{})
		if _, err := a.WriteTo([]byte("x"), b.LocalAddr()); err != nil {
			t.Fatalf("write after clearing deadline: %v", err)
		}
	})
}

func TestCloseUnblocksReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{})
		defer n.Close()
		c := listen(t, n, "10.0.0.1:1")
		const readers = 3
		errs := make(chan error, readers)
		for range readers {
			go func() { _, _, err := c.ReadFrom(make([]byte, 8)); errs <- err }()
		}
		synctest.Wait()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range readers {
			if err := <-errs; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked read after close: %v, want net.ErrClosed", err)
			}
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second close: %v, want net.ErrClosed", err)
		}
		if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after close: %v, want net.ErrClosed", err)
		}
		// The address is free again.
		c2 := listen(t, n, "10.0.0.1:1")
		c2.Close()
	})
}

func TestNetworkCloseUnblocksReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{Link: Link{Latency: time.Second}})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		a.WriteTo([]byte("in flight"), b.LocalAddr())
		errc := make(chan error)
		go func() { _, _, err := b.ReadFrom(make([]byte, 16)); errc <- err }()
		synctest.Wait()
		n.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after network close: %v", err)
		}
		if _, err := n.Listen(ap("10.0.0.3:1")); !errors.Is(err, ErrNetworkClosed) {
			t.Fatalf("listen after close: %v", err)
		}
	})
}

func TestQueueOverflow(t *testing.T) {
	n := New(Options{QueueLen: 4})
	defer n.Close()
	a := listen(t, n, "10.0.0.1:1")
	b := listen(t, n, "10.0.0.2:1")
	for i := range 10 {
		a.WriteTo([]byte{byte(i)}, b.LocalAddr())
	}
	b.SetReadDeadline(time.Now())
	var got []byte
	buf := make([]byte, 4)
	for {
		k, _, err := b.ReadFrom(buf)
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, buf[:k]...)
	}
	if !bytes.Equal(got, []byte{0, 1, 2, 3}) {
		t.Fatalf("received %v, want the first 4 packets", got)
	}
	if st := n.Stats(); st.Overflow != 6 || st.Delivered != 4 || st.Sent != 10 {
		t.Fatalf("stats %+v, want 10 sent, 4 delivered, 6 overflow", st)
	}
}

func TestTruncateAndCopy(t *testing.T) {
	n := New(Options{})
	defer n.Close()
	a := listen(t, n, "10.0.0.1:1")
	b := listen(t, n, "10.0.0.2:1")
	msg := []byte("0123456789")
	a.WriteTo(msg, b.LocalAddr())
	msg[0] = 'X' // the network must have copied the packet
	buf := make([]byte, 4)
	k, _, err := b.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "0123" {
		t.Fatalf("read = %q, %v; want truncated \"0123\"", buf[:k], err)
	}
	big := make([]byte, 70000)
	if _, err := a.WriteTo(big, b.LocalAddr()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("write 70000 bytes: %v, want ErrTooLarge", err)
	}
}

func TestChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{Link: Link{Latency: 10 * time.Millisecond}, QueueLen: 100})
		defer n.Close()
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		send := func(from, to *Conn, s string) {
			if _, err := from.WriteTo([]byte(s), to.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		send(a, b, "before") // delivered
		time.Sleep(20 * time.Millisecond)
		n.SetDown(b.AddrPort().Addr(), true)
		send(a, b, "to down")   // dropped at delivery
		send(b, a, "from down") // dropped at send
		time.Sleep(20 * time.Millisecond)
		send(a, b, "in flight when up") // sent while down, arrives after up
		if st := n.Stats(); st.InFlight != 1 {
			t.Fatalf("%d packets in flight, want 1", st.InFlight)
		}
		n.SetDown(b.AddrPort().Addr(), false)
		if n.IsDown(b.AddrPort().Addr()) {
			t.Fatal("still down after SetDown(false)")
		}
		time.Sleep(20 * time.Millisecond)
		send(a, b, "after")
		time.Sleep(20 * time.Millisecond)

		b.SetReadDeadline(time.Now())
		var got []string
		buf := make([]byte, 32)
		for {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				break
			}
			got = append(got, string(buf[:k]))
		}
		want := []string{"before", "in flight when up", "after"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("b received %q, want %q", got, want)
		}
		if st := n.Stats(); st.Unreachable != 2 || st.Delivered != 3 {
			t.Fatalf("stats %+v, want 2 unreachable, 3 delivered", st)
		}
	})
}

func TestListen(t *testing.T) {
	n := New(Options{})
	defer n.Close()
	c := listen(t, n, "10.0.0.1:6881")
	if la, ok := c.LocalAddr().(*net.UDPAddr); !ok || la.String() != "10.0.0.1:6881" {
		t.Fatalf("LocalAddr = %#v, want *net.UDPAddr 10.0.0.1:6881", c.LocalAddr())
	}
	tests := []struct {
		addr string
		err  error
	}{
		{"10.0.0.1:6881", ErrAddrInUse},
		{"[::ffff:10.0.0.1]:6881", ErrAddrInUse}, // 4in6 is the same address
		{"0.0.0.0:1", ErrInvalidAddr},
		{"[::]:1", ErrInvalidAddr},
		{"10.0.0.1:6882", nil},
		{"[fd00::1]:6881", nil},
	}
	for _, tt := range tests {
		_, err := n.Listen(ap(tt.addr))
		if !errors.Is(err, tt.err) {
			t.Errorf("Listen(%s) = %v, want %v", tt.addr, err, tt.err)
		}
	}
	seen := map[netip.AddrPort]bool{}
	for range 3 {
		c, err := n.Listen(ap("10.0.0.9:0"))
		if err != nil {
			t.Fatal(err)
		}
		if p := c.AddrPort().Port(); p < 49152 || seen[c.AddrPort()] {
			t.Fatalf("port 0 gave %v", c.AddrPort())
		}
		seen[c.AddrPort()] = true
	}
	if _, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1)}); !errors.Is(err, ErrInvalidAddr) {
		t.Errorf("write to port 0: %v, want ErrInvalidAddr", err)
	}
}

// TestConcurrent hammers one receiver from many senders (run with -race).
func TestConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Options{Link: Link{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond}, QueueLen: 10000})
		defer n.Close()
		dst := listen(t, n, "10.0.1.1:1")
		got := readAll(dst, time.Now())
		const senders, each = 20, 100
		var wg sync.WaitGroup
		for i := range senders {
			c := listen(t, n, fmt.Sprintf("10.0.0.%d:1", i+1))
			wg.Go(func() {
				for j := range each {
					c.WriteTo(fmt.Appendf(nil, "%d-%d", i, j), dst.LocalAddr())
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		time.Sleep(20 * time.Millisecond)
		dst.Close()
		arr := <-got
		uniq := map[string]bool{}
		for _, a := range arr {
			uniq[a.data] = true
		}
		if len(arr) != senders*each || len(uniq) != senders*each {
			t.Fatalf("received %d (%d distinct), want %d", len(arr), len(uniq), senders*each)
		}
		if n.Pending() != 0 {
			t.Fatalf("%d packets still pending", n.Pending())
		}
	})
}

// TestReadPacket checks that ReadPacket hands over whole packets, each its
// own copy, and that a drained queue gives its ring back.
func TestReadPacket(t *testing.T) {
	n := New(Options{})
	defer n.Close()
	a := listen(t, n, "10.0.0.1:1")
	b := listen(t, n, "10.0.0.2:1")
	msg := []byte("0123456789")
	for range 20 {
		a.WriteTo(msg, b.LocalAddr())
	}
	var got [][]byte
	for range 20 {
		p, from, err := b.ReadPacket()
		if err != nil || from.String() != "10.0.0.1:1" {
			t.Fatalf("ReadPacket = %q, %v, %v", p, from, err)
		}
		got = append(got, p)
	}
	got[0][0] = 'X'
	if string(got[1]) != "0123456789" {
		t.Errorf("packets share bytes: %q", got[1])
	}
	b.mu.Lock()
	ring := len(b.queue)
	b.mu.Unlock()
	if ring > idleQueue {
		t.Errorf("drained queue keeps a ring of %d entries, want ≤ %d", ring, idleQueue)
	}
}
