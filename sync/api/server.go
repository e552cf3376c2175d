package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// Extra is what a daemon serves beyond the node's own methods. Any field
// may be nil; its endpoint then answers 404.
type Extra struct {
	// Info returns the node's identity and addresses for /api/v0/id.
	Info func(ctx context.Context) (any, error)
	// Peers returns the connected peers for /api/v0/peers.
	Peers func(ctx context.Context) (any, error)
	// Bans returns the peers refused for sending bad blocks, for /api/v0/bans.
	Bans func(ctx context.Context) (any, error)
	// DHTTable returns the DHT routing table for /api/v0/dht/table.
	DHTTable func(ctx context.Context) (any, error)
	// Handlers are more endpoints behind the token, by ServeMux pattern
	// ("POST /api/v0/folders/share").
	Handlers map[string]http.HandlerFunc
	// Metrics serves /metrics.
	Metrics http.Handler
	// Gateway serves GET and HEAD of /ipfs/ to callers holding the token
	// (it may fetch from peers). Nil: /ipfs/ is not served to them.
	Gateway http.Handler
	// PublicGateway serves /ipfs/ to callers without the token (public,
	// locally held content only). Nil: they get 401 as elsewhere.
	PublicGateway http.Handler
}

// Server serves a Backend over HTTP.
type Server struct {
	b     Backend
	token string
	extra Extra
	log   *slog.Logger
	mux   *http.ServeMux
}

// NewServer returns a handler that serves b to callers holding token.
func NewServer(b Backend, token string, extra Extra, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, token: token, extra: extra, log: log, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /api/v0/add", s.add)
	s.mux.HandleFunc("POST /api/v0/cat", s.cat)
	s.mux.HandleFunc("POST /api/v0/get", s.get)
	s.mux.HandleFunc("POST /api/v0/ls", s.ls)
	s.mux.HandleFunc("POST /api/v0/pin/add", s.pinAdd)
	s.mux.HandleFunc("POST /api/v0/pin/rm", s.pinRm)
	s.mux.HandleFunc("POST /api/v0/pin/ls", s.pinLs)
	s.mux.HandleFunc("POST /api/v0/gc", s.gc)
	s.mux.HandleFunc("POST /api/v0/export", s.export)
	s.mux.HandleFunc("POST /api/v0/import", s.imp)
	s.mux.HandleFunc("POST /api/v0/stat", s.stat)
	s.mux.HandleFunc("POST /api/v0/ping", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, struct{}{}) })
	s.mux.HandleFunc("POST /api/v0/id", s.jsonFunc(extra.Info))
	s.mux.HandleFunc("POST /api/v0/peers", s.jsonFunc(extra.Peers))
	s.mux.HandleFunc("POST /api/v0/bans", s.jsonFunc(extra.Bans))
	s.mux.HandleFunc("POST /api/v0/dht/table", s.jsonFunc(extra.DHTTable))
	// Profiles of the running daemon, for `go tool pprof` (token required).
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if extra.Metrics != nil {
		s.mux.Handle("GET /metrics", extra.Metrics)
	}
	for pattern, h := range extra.Handlers {
		s.mux.HandleFunc(pattern, h)
	}
	return s
}

// ServeHTTP checks the token, then routes. The gateway (/ipfs/) is routed
// before the mux, which would redirect ".." and "//" paths rather than let
// the gateway refuse them; without the token it serves public content.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get("Authorization")
	want := "Bearer " + s.token
	authed := subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	if strings.HasPrefix(r.URL.Path, "/ipfs/") {
		if gw := s.extra.Gateway; authed && gw != nil {
			gw.ServeHTTP(w, r)
			return
		}
		if gw := s.extra.PublicGateway; !authed && gw != nil {
			if !loopbackHost(r.Host) {
				// A page whose name was made to resolve to 127.0.0.1 (DNS
				// rebinding) must not learn what this node holds.
				writeError(w, http.StatusForbidden, fmt.Errorf("host %q: the gateway answers only to localhost, 127.0.0.1 or [::1] without the API token", r.Host))
				return
			}
			gw.ServeHTTP(w, r)
			return
		}
	}
	if !authed {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
		writeError(w, http.StatusUnauthorized, errors.New("missing or wrong API token"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a request's Host names this machine by a
// loopback name or address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// errorBody is how every failed call reports its error.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

// AddRequest is the body of /api/v0/add.
type AddRequest struct {
	Paths   []string `json:"paths"` // absolute paths on the daemon's machine
	Chunker string   `json:"chunker"`
	NoCopy  bool     `json:"nocopy"`
	Pin     bool     `json:"pin"`
	Hidden  bool     `json:"hidden"`
}

// event is one line of the newline-delimited JSON reply of add and get.
// The last line of a reply has Roots (add), Done (get) or Error.
type event struct {
	Added    *addedJSON `json:"added,omitempty"`
	Total    int64      `json:"total,omitempty"`
	Progress int64      `json:"progress,omitempty"`
	Roots    []string   `json:"roots,omitempty"`
	Done     bool       `json:"done,omitempty"`
	Error    string     `json:"error,omitempty"`
	Status   int        `json:"status,omitempty"` // with Error: the HTTP status it stands for
}

type addedJSON struct {
	Name  string `json:"name"`
	Cid   string `json:"cid"`
	Size  uint64 `json:"size"`
	IsDir bool   `json:"dir,omitempty"`
}

func (s *Server) add(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	cfg, err := chunker.Parse(req.Chunker)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	st := newEventStream(w)
	opt := dag.AddOptions{Chunker: cfg, NoCopy: req.NoCopy, Pin: req.Pin, Hidden: req.Hidden,
		Progress: func(n int64) { st.progress(n) }}
	roots, err := s.b.Add(r.Context(), req.Paths, opt, func(a dag.Added) error {
		return st.send(event{Added: &addedJSON{Name: a.Name, Cid: a.Cid.String(), Size: a.Size, IsDir: a.IsDir}})
	})
	if err != nil {
		st.fail(w, err)
		return
	}
	_ = st.send(event{Roots: cidStrings(roots)})
}

// eventStream writes newline-delimited JSON events, flushing each, and
// folds progress into at most one event per added entry or 1 MiB.
type eventStream struct {
	mu      sync.Mutex
	enc     *json.Encoder
	flush   func()
	pending int64
	started bool // something was written: the status is sent
}

func newEventStream(w http.ResponseWriter) *eventStream {
	f, _ := w.(http.Flusher)
	flush := func() {}
	if f != nil {
		flush = f.Flush
	}
	return &eventStream{enc: json.NewEncoder(w), flush: flush}
}

func (e *eventStream) progress(n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending += n
	if e.pending >= 1<<20 {
		e.started = true
		_ = e.enc.Encode(event{Progress: e.pending})
		e.pending = 0
		e.flush()
	}
}

// fail ends the reply with err: as an error reply with its status while
// nothing was written, else as an Error event.
func (e *eventStream) fail(w http.ResponseWriter, err error) {
	e.mu.Lock()
	started := e.started
	e.mu.Unlock()
	if !started {
		writeError(w, statusOf(err), err)
		return
	}
	_ = e.send(event{Error: err.Error(), Status: statusOf(err)})
}

func (e *eventStream) send(ev event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending > 0 {
		_ = e.enc.Encode(event{Progress: e.pending})
		e.pending = 0
	}
	err := e.enc.Encode(ev)
	e.flush()
	return err
}

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// PathRequest names content by "CID[/path]".
type PathRequest struct {
	Path string `json:"path"`
}

// streamBody writes a streamed reply. Errors before the first byte become
// an HTTP error; errors after it are reported in the X-Shoal-Error trailer,
// which the client turns back into an error.
func streamBody(w http.ResponseWriter, contentType string, fn func(io.Writer) error) {
	w.Header().Set("Trailer", "X-Shoal-Error")
	sw := &startWriter{w: w, contentType: contentType}
	err := fn(sw)
	if err == nil {
		return
	}
	if !sw.started {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("X-Shoal-Error", err.Error())
}

type startWriter struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (s *startWriter) Write(b []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", s.contentType)
		s.w.WriteHeader(http.StatusOK)
	}
	return s.w.Write(b)
}

func (s *Server) cat(w http.ResponseWriter, r *http.Request) {
	var req PathRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	streamBody(w, "application/octet-stream", func(out io.Writer) error {
		return s.b.Cat(r.Context(), req.Path, out)
	})
}

// GetRequest is the body of /api/v0/get.
type GetRequest struct {
	Path  string `json:"path"`
	Out   string `json:"out"` // absolute path on the daemon's machine
	Force bool   `json:"force"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	var req GetRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	st := newEventStream(w)
	opt := dag.GetOptions{Force: req.Force, Progress: st.progress,
		Total: func(n int64) { _ = st.send(event{Total: n}) }}
	if err := s.b.Get(r.Context(), req.Path, req.Out, opt); err != nil {
		st.fail(w, err)
		return
	}
	_ = st.send(event{Done: true})
}

// LinkJSON is one directory entry in /api/v0/ls.
type LinkJSON struct {
	Name  string `json:"name"`
	Cid   string `json:"cid"`
	Tsize uint64 `json:"size"`
}

func (s *Server) ls(w http.ResponseWriter, r *http.Request) {
	var req PathRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	links, err := s.b.Ls(r.Context(), req.Path)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := make([]LinkJSON, len(links))
	for i, l := range links {
		out[i] = LinkJSON{Name: l.Name, Cid: l.Cid.String(), Tsize: l.Tsize}
	}
	writeJSON(w, out)
}

// PinRequest is the body of the pin endpoints.
type PinRequest struct {
	Cid       string `json:"cid"`
	Recursive bool   `json:"recursive"`
}

func (s *Server) pinCid(w http.ResponseWriter, r *http.Request) (PinRequest, cid.Cid, bool) {
	var req PinRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return req, cid.Undef, false
	}
	c, err := cid.Decode(req.Cid)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid CID %q: %w", req.Cid, err))
		return req, cid.Undef, false
	}
	return req, c, true
}

func (s *Server) pinAdd(w http.ResponseWriter, r *http.Request) {
	req, c, ok := s.pinCid(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	st := newEventStream(w)
	opt := dag.PinOptions{Recursive: req.Recursive, Progress: st.progress,
		Total: func(n int64) { _ = st.send(event{Total: n}) }}
	if err := s.b.PinAdd(r.Context(), c, opt); err != nil {
		st.fail(w, err)
		return
	}
	_ = st.send(event{Done: true})
}

func (s *Server) pinRm(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.pinCid(w, r)
	if !ok {
		return
	}
	if err := s.b.PinRm(r.Context(), c); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, struct{}{})
}

// PinJSON is one pin in /api/v0/pin/ls.
type PinJSON struct {
	Cid  string `json:"cid"`
	Mode string `json:"mode"`
}

func (s *Server) pinLs(w http.ResponseWriter, r *http.Request) {
	pins, err := s.b.PinLs(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := make([]PinJSON, len(pins))
	for i, p := range pins {
		out[i] = PinJSON{Cid: p.Cid.String(), Mode: p.Mode.String()}
	}
	writeJSON(w, out)
}

func (s *Server) gc(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.GC(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	var req PathRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	c, err := cid.Decode(req.Path)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid CID %q: %w", req.Path, err))
		return
	}
	streamBody(w, "application/vnd.ipld.car", func(out io.Writer) error {
		return s.b.Export(r.Context(), c, out)
	})
}

func (s *Server) imp(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp("", "shoal-import-*.car")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r.Body); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read CAR: %w", err))
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	roots, err := s.b.Import(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, cidStrings(roots))
}

func (s *Server) stat(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Stat(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) jsonFunc(fn func(ctx context.Context) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if fn == nil {
			writeError(w, http.StatusNotFound, errors.New("not served by this daemon"))
			return
		}
		v, err := fn(r.Context())
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, v)
	}
}
