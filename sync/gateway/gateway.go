package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// DefaultTimeout is how long a request waits by default for its path to
// resolve and for each block it reads on its own to become available.
const DefaultTimeout = 2 * time.Minute

// DefaultWholeTimeout is how long a request waits by default for a whole
// DAG (a file or a CAR) to become available before its response starts.
const DefaultWholeTimeout = 30 * time.Minute

// CacheControl is sent with content addressed by CID, which never changes.
const CacheControl = "public, max-age=29030400, immutable"

// Options tunes a Handler. The zero value is ready to use.
type Options struct {
	// Timeout bounds how long a request waits for its path to resolve
	// and for each block it reads on its own (a directory, the node a
	// HEAD looks at) to become available, fetched from peers for a Source
	// that fetches; then it fails with 504. Default DefaultTimeout.
	Timeout time.Duration
	// WholeTimeout bounds how long a GET of a file or a CAR waits for
	// the whole DAG to become available before its response starts.
	// Neither bounds sending the response. Default DefaultWholeTimeout.
	WholeTimeout time.Duration
	// Logger receives failed requests: 5xx at Warn, the rest at Debug.
	// Nil discards them.
	Logger *slog.Logger
}

// Handler serves GET and HEAD of /ipfs/CID[/path] from a Source.
type Handler struct {
	src     Source
	timeout time.Duration
	whole   time.Duration
	log     *slog.Logger
}

// New returns a Handler that serves content from src.
func New(src Source, opt Options) *Handler {
	h := &Handler{src: src, timeout: opt.Timeout, whole: opt.WholeTimeout, log: opt.Logger}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.whole <= 0 {
		h.whole = DefaultWholeTimeout
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Errors the Handler maps to statuses.
var (
	errBadFormat      = errors.New("bad format")      // 400
	errUnsupportedCID = errors.New("unsupported CID") // 400
	errFetch          = errors.New("fetch failed")    // 502
	errUnsupported    = errors.New("not supported")   // 501
	errMethod         = errors.New("method not allowed")
	errNotCached      = errors.New("not held here and only-if-cached") // 412
)

// Response formats besides UnixFS.
const (
	formatRaw = "raw"
	formatCAR = "car"
)

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		// A CORS preflight: the headers above are the answer.
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		h.fail(w, r, fmt.Errorf("%w: %s (only GET, HEAD and OPTIONS)", errMethod, r.Method))
		return
	}
	p, err := parsePath(r.URL.Path)
	if err == nil {
		err = checkCID(p.root)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	format, params, byAccept, err := negotiate(r)
	var cp carParams
	if err == nil && format == formatCAR {
		cp, err = parseCARParams(r.URL.Query(), params)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	g := needGetter{h: h, local: onlyIfCached(r)}
	res, err := h.resolve(ctx, g, p, format == formatCAR)
	if err == nil && g.local {
		// only-if-cached: the block the path names must be here now.
		_, err = g.Get(ctx, res.target)
	}
	if err != nil {
		if g.local && errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("%w: %w", errNotCached, err)
		}
		h.fail(w, r, err)
		return
	}
	w.Header().Set("X-Ipfs-Path", p.String())
	w.Header().Set("X-Ipfs-Roots", res.rootsHeader())
	w.Header().Add("Vary", "Accept")
	if byAccept {
		w.Header().Set("Content-Location", contentLocation(r, format))
	}
	switch format {
	case formatRaw:
		h.serveRaw(ctx, w, r, g, res.target)
	case formatCAR:
		h.serveCAR(ctx, w, r, g, res, cp)
	default:
		h.serveUnixFS(ctx, w, r, g, p, res.target)
	}
}

// setCORS lets any web page read every response, with the headers
// IPFS clients need, as boxo's gateway does.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Range, User-Agent, X-Requested-With, If-None-Match, Cache-Control")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Type, Content-Disposition, Content-Location, Etag, X-Chunked-Output, X-Stream-Output, X-Ipfs-Path, X-Ipfs-Roots")
}

// onlyIfCached reports whether the request's Cache-Control says
// only-if-cached: answer from what is held, fetch nothing.
func onlyIfCached(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

// contentLocation is the request's URL with the format Accept chose in
// ?format=, so that caches keep the formats apart.
func contentLocation(r *http.Request, format string) string {
	q := r.URL.Query()
	q.Set("format", format)
	return (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String()
}

// need asks the source for c, within the timeout for one block or for a
// whole DAG, marking failures that are not "not found" or the request's
// end as failed fetches.
func (h *Handler) need(ctx context.Context, c cid.Cid, whole bool) error {
	d := h.timeout
	if whole {
		d = h.whole
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return h.classify(c, h.src.Need(ctx, c, whole))
}

// classify marks a source's failure that is not "not found" or the
// request's end as a failed fetch.
func (h *Handler) classify(c cid.Cid, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: %s: %w", errFetch, c, err)
}

// needWhole makes the DAG under c available before a response is sent
// from it, and returns the getter to read it with: a Streamer starts
// fetching it for the request's lifetime and its getter waits for each
// block; another Source is asked for all of it within the whole-DAG
// timeout.
func (h *Handler) needWhole(ctx context.Context, r *http.Request, c cid.Cid) (needGetter, error) {
	if s, ok := h.src.(Streamer); ok {
		g, err := s.Stream(r.Context(), c)
		if err != nil {
			return needGetter{}, h.classify(c, err)
		}
		return needGetter{h: h, first: g}, nil
	}
	return needGetter{h: h}, h.need(ctx, c, true)
}

// needGetter reads blocks from the source (or first, if set, a Streamer's
// getter), asking the source for each block it does not have yet, within
// the handler's timeout; with local (only-if-cached) it asks for nothing.
// An identity CID's bytes come from the CID itself.
type needGetter struct {
	h     *Handler
	first unixfs.Getter
	local bool
}

func (g needGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := unixfs.IdentityData(c); ok {
		return data, nil
	}
	if g.local {
		return g.h.src.Get(ctx, c)
	}
	get := g.h.src.Get
	if g.first != nil {
		get = g.first.Get
	}
	data, err := get(ctx, c)
	if !errors.Is(err, store.ErrNotFound) {
		return data, err
	}
	if nerr := g.h.need(ctx, c, false); nerr != nil {
		if errors.Is(err, store.ErrRefChanged) {
			return nil, err // a reference dropped: say why it is missing
		}
		return nil, nerr
	}
	return g.h.src.Get(ctx, c)
}

// statusOf maps an error to the HTTP status a gateway answers with.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errBadPath), errors.Is(err, errBadFormat), errors.Is(err, errUnsupportedCID):
		return http.StatusBadRequest
	case errors.Is(err, errNotAcceptable):
		return http.StatusNotAcceptable
	case errors.Is(err, errNotCached):
		return http.StatusPreconditionFailed
	case errors.Is(err, store.ErrRefChanged): // dropped, so also not found: say why
		return http.StatusInternalServerError
	case errors.Is(err, store.ErrNotFound), errors.Is(err, unixfs.ErrNoLink), errors.Is(err, unixfs.ErrNotDir):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, errFetch), errors.Is(err, unixfs.ErrDecode), errors.Is(err, unixfs.ErrInconsistent):
		return http.StatusBadGateway
	case errors.Is(err, errUnsupported), errors.Is(err, unixfs.ErrHAMT), errors.Is(err, unixfs.ErrCodec),
		errors.Is(err, store.ErrUnsupportedCid):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// fail answers with err's status and text, and logs it. A request whose
// client went away gets no answer.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		h.log.Debug("gateway request cancelled", "path", r.URL.Path, "err", err)
		return
	}
	code := statusOf(err)
	if code >= 500 {
		h.log.Warn("gateway request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	} else {
		h.log.Debug("gateway request refused", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	for _, k := range []string{"Etag", "Cache-Control", "Content-Disposition", "X-Ipfs-Path", "X-Ipfs-Roots", "Content-Location", "Content-Type", "X-Content-Type-Options", "Trailer"} {
		w.Header().Del(k)
	}
	if code == http.StatusBadGateway || code == http.StatusGatewayTimeout {
		w.Header().Set("Retry-After", "30")
	}
	http.Error(w, fmt.Sprintf("%d %s: %v", code, http.StatusText(code), err), code)
}
