package api

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// Client calls a daemon's API. It implements Backend.
type Client struct {
	base  string // "http://127.0.0.1:PORT"
	token string
	hc    *http.Client
}

var _ Backend = (*Client)(nil)

// NewClient returns a client of the API at addr (HOST:PORT) with token.
func NewClient(addr, token string) *Client {
	return &Client{base: "http://" + addr, token: token, hc: &http.Client{}}
}

// asGiven turns a name the daemon reports under an absolute path back
// into the path the caller gave (as dag.Add names what it adds without a
// daemon), so that `shoal add` prints the same either way.
func asGiven(name string, given, abs []string) string {
	for i, a := range abs {
		a = filepath.ToSlash(filepath.Clean(a))
		g := filepath.ToSlash(filepath.Clean(given[i]))
		if name == a {
			return g
		}
		if rest, ok := strings.CutPrefix(name, a+"/"); ok {
			return g + "/" + rest
		}
	}
	return name
}

// Addr is the API's HOST:PORT.
func (c *Client) Addr() string { return strings.TrimPrefix(c.base, "http://") }

// Ping checks that a daemon answers with this token.
func (c *Client) Ping(ctx context.Context) error {
	var v json.RawMessage
	return c.callJSON(ctx, "ping", struct{}{}, &v)
}

func (c *Client) do(ctx context.Context, endpoint string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v0/"+endpoint, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

// RemoteError is an error the daemon reported.
type RemoteError struct {
	Status int
	Msg    string
}

func (e *RemoteError) Error() string { return e.Msg }

// Is lets errors.Is match the sentinels the status codes stand for.
func (e *RemoteError) Is(target error) bool {
	return e.Status == http.StatusNotFound && target == store.ErrNotFound
}

func responseError(resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("daemon API: %s", resp.Status)
	}
	return &RemoteError{Status: resp.StatusCode, Msg: eb.Error}
}

// postJSON posts in, as JSON, to endpoint.
func (c *Client) postJSON(ctx context.Context, endpoint string, in any) (*http.Response, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, endpoint, bytes.NewReader(b), "application/json")
}

func (c *Client) callJSON(ctx context.Context, endpoint string, in, out any) error {
	resp, err := c.postJSON(ctx, endpoint, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("daemon API %s: bad reply: %w", endpoint, err)
	}
	return nil
}

// stream copies a streamed reply to w and reports an error the daemon
// sent in the trailer.
func (c *Client) stream(ctx context.Context, endpoint string, in any, w io.Writer) error {
	resp, err := c.postJSON(ctx, endpoint, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return err
	}
	if msg := resp.Trailer.Get("X-Shoal-Error"); msg != "" {
		return &RemoteError{Status: http.StatusInternalServerError, Msg: msg}
	}
	return nil
}

// Add asks the daemon to add paths (made absolute here: the daemon runs on
// the same machine and reads them itself).
func (c *Client) Add(ctx context.Context, paths []string, opt dag.AddOptions, fn func(dag.Added) error) ([]cid.Cid, error) {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		abs[i] = a
	}
	req := AddRequest{Paths: abs, Chunker: opt.Chunker.String(), NoCopy: opt.NoCopy, Pin: opt.Pin, Hidden: opt.Hidden}
	resp, err := c.postJSON(ctx, "add", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("daemon API add: bad reply: %w", err)
		}
		switch {
		case ev.Error != "":
			return nil, &RemoteError{Status: cmp.Or(ev.Status, http.StatusInternalServerError), Msg: ev.Error}
		case ev.Progress > 0:
			if opt.Progress != nil {
				opt.Progress(ev.Progress)
			}
		case ev.Added != nil:
			a, err := parseAdded(ev.Added)
			if err != nil {
				return nil, err
			}
			a.Name = asGiven(a.Name, paths, abs)
			if fn != nil {
				if err := fn(a); err != nil {
					return nil, err
				}
			}
		case ev.Roots != nil:
			return parseCids(ev.Roots)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("daemon API add: %w", err)
	}
	return nil, errors.New("daemon API add: reply ended early")
}

func parseAdded(a *addedJSON) (dag.Added, error) {
	c, err := cid.Decode(a.Cid)
	if err != nil {
		return dag.Added{}, fmt.Errorf("daemon API: bad CID %q: %w", a.Cid, err)
	}
	return dag.Added{Name: a.Name, Cid: c, Size: a.Size, IsDir: a.IsDir}, nil
}

func parseCids(ss []string) ([]cid.Cid, error) {
	out := make([]cid.Cid, len(ss))
	for i, s := range ss {
		c, err := cid.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("daemon API: bad CID %q: %w", s, err)
		}
		out[i] = c
	}
	return out, nil
}

// Cat streams a file to w.
func (c *Client) Cat(ctx context.Context, p string, w io.Writer) error {
	return c.stream(ctx, "cat", PathRequest{Path: p}, w)
}

// Get asks the daemon to write p to out (made absolute here).
func (c *Client) Get(ctx context.Context, p, out string, opt dag.GetOptions) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	return c.progressCall(ctx, "get", GetRequest{Path: p, Out: abs, Force: opt.Force}, opt.Total, opt.Progress)
}

// progressCall calls an endpoint that replies with Total and Progress
// events and ends with Done or Error (get, pin/add), passing them on.
func (c *Client) progressCall(ctx context.Context, endpoint string, in any, total, progress func(int64)) error {
	resp, err := c.postJSON(ctx, endpoint, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("daemon API %s: bad reply: %w", endpoint, err)
		}
		switch {
		case ev.Error != "":
			return &RemoteError{Status: cmp.Or(ev.Status, http.StatusInternalServerError), Msg: ev.Error}
		case ev.Done:
			return nil
		case ev.Total > 0 && total != nil:
			total(ev.Total)
		case ev.Progress > 0 && progress != nil:
			progress(ev.Progress)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("daemon API %s: %w", endpoint, err)
	}
	return fmt.Errorf("daemon API %s: reply ended early", endpoint)
}

// Ls lists a directory.
func (c *Client) Ls(ctx context.Context, p string) ([]unixfs.Link, error) {
	var ls []LinkJSON
	if err := c.callJSON(ctx, "ls", PathRequest{Path: p}, &ls); err != nil {
		return nil, err
	}
	out := make([]unixfs.Link, len(ls))
	for i, l := range ls {
		id, err := cid.Decode(l.Cid)
		if err != nil {
			return nil, fmt.Errorf("daemon API: bad CID %q: %w", l.Cid, err)
		}
		out[i] = unixfs.Link{Name: l.Name, Cid: id, Tsize: l.Tsize}
	}
	return out, nil
}

// PinAdd pins a CID, reporting the progress of what the daemon fetches.
func (c *Client) PinAdd(ctx context.Context, id cid.Cid, opt dag.PinOptions) error {
	return c.progressCall(ctx, "pin/add", PinRequest{Cid: id.String(), Recursive: opt.Recursive}, opt.Total, opt.Progress)
}

// PinRm unpins a CID.
func (c *Client) PinRm(ctx context.Context, id cid.Cid) error {
	return c.callJSON(ctx, "pin/rm", PinRequest{Cid: id.String()}, nil)
}

// PinLs lists pins.
func (c *Client) PinLs(ctx context.Context) ([]store.Pin, error) {
	var ps []PinJSON
	if err := c.callJSON(ctx, "pin/ls", struct{}{}, &ps); err != nil {
		return nil, err
	}
	out := make([]store.Pin, len(ps))
	for i, p := range ps {
		id, err := cid.Decode(p.Cid)
		if err != nil {
			return nil, fmt.Errorf("daemon API: bad CID %q: %w", p.Cid, err)
		}
		mode := store.PinRecursive
		if p.Mode == store.PinDirect.String() {
			mode = store.PinDirect
		}
		out[i] = store.Pin{Cid: id, Mode: mode}
	}
	return out, nil
}

// GC runs a garbage collection in the daemon.
func (c *Client) GC(ctx context.Context) (store.GCStats, error) {
	var st store.GCStats
	err := c.callJSON(ctx, "gc", struct{}{}, &st)
	return st, err
}

// Export streams a CAR to w.
func (c *Client) Export(ctx context.Context, id cid.Cid, w io.Writer) error {
	return c.stream(ctx, "export", PathRequest{Path: id.String()}, w)
}

// Import sends a CAR to the daemon.
func (c *Client) Import(ctx context.Context, r io.ReadSeeker) ([]cid.Cid, error) {
	resp, err := c.do(ctx, "import", r, "application/vnd.ipld.car")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ss []string
	if err := json.NewDecoder(resp.Body).Decode(&ss); err != nil {
		return nil, fmt.Errorf("daemon API import: bad reply: %w", err)
	}
	return parseCids(ss)
}

// Stat describes the daemon's store.
func (c *Client) Stat(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := c.callJSON(ctx, "stat", struct{}{}, &st)
	return st, err
}

// CallJSON posts in as JSON to a daemon-only endpoint and decodes its
// reply into out (nil: discarded).
func (c *Client) CallJSON(ctx context.Context, endpoint string, in, out any) error {
	return c.callJSON(ctx, endpoint, in, out)
}

// Call invokes one of the daemon-only JSON endpoints ("id", "peers") and
// decodes its reply into out.
func (c *Client) Call(ctx context.Context, endpoint string, out any) error {
	return c.callJSON(ctx, endpoint, struct{}{}, out)
}
