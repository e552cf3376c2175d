package tracker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client announces to trackers. Its zero value is ready; it keeps BEP 15
// connection IDs for their minute.
type Client struct {
	// HTTP is the client for http(s) trackers. Default: one with a 15 s timeout.
	HTTP *http.Client

	mu    sync.Mutex
	conns map[string]udpConnID
}

type udpConnID struct {
	id    uint64
	until time.Time
}

// Announce sends r to the tracker at rawURL (udp://HOST:PORT,
// http://HOST:PORT/PATH or https://...) and returns its answer.
func (c *Client) Announce(ctx context.Context, rawURL string, r Request) (Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Response{}, fmt.Errorf("tracker %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "udp":
		return c.announceUDP(ctx, u.Host, r)
	case "http", "https":
		return c.announceHTTP(ctx, u, r)
	}
	return Response{}, fmt.Errorf("tracker %q: scheme %q is not udp, http or https", rawURL, u.Scheme)
}

// CheckURL reports whether rawURL names a tracker Announce can reach.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("tracker %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "udp", "http", "https":
	default:
		return fmt.Errorf("tracker %q: want udp://HOST:PORT or http://HOST:PORT/announce", rawURL)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil && u.Scheme == "udp" {
		return fmt.Errorf("tracker %q: %w", rawURL, err)
	}
	return nil
}

// udpTries are the waits for one UDP exchange's answer, one a try.
var udpTries = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

func (c *Client) announceUDP(ctx context.Context, host string, r Request) (Response, error) {
	resp, err := c.announceUDPOnce(ctx, host, r)
	if err != nil && errors.Is(err, errConnID) && ctx.Err() == nil {
		return c.announceUDPOnce(ctx, host, r) // with a fresh connection ID
	}
	return resp, err
}

// errConnID marks an announce refused for its connection ID, which
// may have expired on the tracker's side.
var errConnID = errors.New("connection ID refused")

func (c *Client) announceUDPOnce(ctx context.Context, host string, r Request) (Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", host)
	if err != nil {
		return Response{}, fmt.Errorf("tracker udp://%s: %w", host, err)
	}
	defer conn.Close()
	v6 := conn.RemoteAddr().(*net.UDPAddr).IP.To4() == nil
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	connID, err := c.udpConnect(conn, host)
	if err != nil {
		return Response{}, fmt.Errorf("tracker udp://%s: connect: %w", host, err)
	}
	tx := randUint32()
	req := appendAnnounce(nil, connID, tx, randUint32(), r)
	var resp Response
	err = exchange(conn, req, func(b []byte) error {
		var err error
		resp, err = ParseUDPAnnounce(b, tx, v6)
		return err
	})
	if err != nil {
		c.mu.Lock()
		_, cached := c.conns[host]
		delete(c.conns, host) // it may have expired on the tracker's side
		c.mu.Unlock()
		if cached && !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", errConnID, err)
		}
		return Response{}, fmt.Errorf("tracker udp://%s: announce: %w", host, err)
	}
	return resp, nil
}

func (c *Client) udpConnect(conn net.Conn, host string) (uint64, error) {
	c.mu.Lock()
	if id, ok := c.conns[host]; ok && time.Now().Before(id.until) {
		c.mu.Unlock()
		return id.id, nil
	}
	c.mu.Unlock()
	tx := randUint32()
	var id uint64
	err := exchange(conn, appendConnect(nil, tx), func(b []byte) error {
		var err error
		id, err = parseConnectResponse(b, tx)
		return err
	})
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.conns == nil {
		c.conns = make(map[string]udpConnID)
	}
	c.conns[host] = udpConnID{id: id, until: time.Now().Add(time.Minute)}
	c.mu.Unlock()
	return id, nil
}

// exchange sends req and reads answers until parse accepts one, trying
// again on silence. A tracker's error answer ends it at once; an answer
// that is not ours (another transaction) is skipped.
func exchange(conn net.Conn, req []byte, parse func([]byte) error) error {
	buf := make([]byte, 20+18*maxPeers)
	var last error
	for _, wait := range udpTries {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					last = err
					break // silence: try again
				}
				return err
			}
			err = parse(buf[:n])
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrMalformed) {
				return err // the tracker said no
			}
			last = err
		}
	}
	return last
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// maxHTTPBody bounds a tracker's HTTP response.
const maxHTTPBody = 256 << 10

func (c *Client) announceHTTP(ctx context.Context, u *url.URL, r Request) (Response, error) {
	q := "info_hash=" + url.QueryEscape(string(r.InfoHash[:])) +
		"&peer_id=" + url.QueryEscape(string(r.PeerID[:])) +
		"&port=" + strconv.Itoa(int(r.Port)) +
		"&uploaded=0&downloaded=0&left=" + strconv.FormatInt(r.Left, 10) +
		"&compact=1"
	if r.NumWant >= 0 {
		q += "&numwant=" + strconv.Itoa(int(r.NumWant))
	}
	switch r.Event {
	case EventStarted:
		q += "&event=started"
	case EventStopped:
		q += "&event=stopped"
	case EventCompleted:
		q += "&event=completed"
	}
	full := *u
	if full.RawQuery != "" {
		full.RawQuery += "&" + q
	} else {
		full.RawQuery = q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full.String(), nil)
	if err != nil {
		return Response{}, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody+1))
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", u.Redacted(), err)
	}
	if len(body) > maxHTTPBody {
		return Response{}, fmt.Errorf("tracker %s: response over %d bytes", u.Redacted(), maxHTTPBody)
	}
	if resp.StatusCode != http.StatusOK {
		return Response{}, fmt.Errorf("tracker %s: %s: %s", u.Redacted(), resp.Status, clip([]byte(strings.TrimSpace(string(body)))))
	}
	out, err := ParseHTTPResponse(body)
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", u.Redacted(), err)
	}
	return out, nil
}
