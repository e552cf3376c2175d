package gateway

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/shoal-sync/shoal/store/dag"
)

// Media types of the trustless response formats.
const (
	mediaRaw = "application/vnd.ipld.raw"
	mediaCAR = "application/vnd.ipld.car"
)

// errNotAcceptable means no response format the Accept header allows can
// be produced (406).
var errNotAcceptable = errors.New("not acceptable")

// carParams are a CAR request's parameters (IPIP-402, IPIP-412).
type carParams struct {
	scope dag.Scope
	// rng is set by entity-bytes.
	rng *entityBytes
	// rawRange is entity-bytes as the request spelled it, for the ETag.
	rawRange string
	dups     bool
}

// entityBytes is a parsed entity-bytes=FROM:TO: From and To are byte
// offsets, inclusive, negative ones counting from the end (-1 is the last
// byte); ToEnd means "*".
type entityBytes struct {
	From, To int64
	ToEnd    bool
}

// resolve turns the range into absolute inclusive offsets for an entity
// of size bytes, clamped to it. ok is false for a range that holds no
// byte of the entity (or resolves to zero length).
func (e entityBytes) resolve(size int64) (from, to int64, ok bool) {
	from, to = e.From, e.To
	if from < 0 {
		from = max(size+from, 0)
	}
	switch {
	case e.ToEnd:
		to = size - 1
	case to < 0:
		to = size + to
	}
	to = min(to, size-1)
	if from >= size || to < from {
		return 0, 0, false
	}
	return from, to, true
}

// outside reports whether the range lies wholly past the end of an
// entity of size bytes, which a request can be told before any block is
// sent (400).
func (e entityBytes) outside(size int64) bool {
	return e.From >= 0 && e.From >= size && size > 0
}

// parseEntityBytes parses FROM:TO, where FROM is an integer and TO an
// integer or "*"; both may be negative.
func parseEntityBytes(s string) (entityBytes, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return entityBytes{}, fmt.Errorf("%w: entity-bytes=%q is not FROM:TO", errBadFormat, s)
	}
	var e entityBytes
	var err error
	if e.From, err = parseOffset(a); err != nil {
		return entityBytes{}, fmt.Errorf("%w: entity-bytes=%q: from: %v", errBadFormat, s, err)
	}
	if b == "*" {
		e.ToEnd = true
		return e, nil
	}
	if e.To, err = parseOffset(b); err != nil {
		return entityBytes{}, fmt.Errorf("%w: entity-bytes=%q: to: %v", errBadFormat, s, err)
	}
	if e.From >= 0 && e.To >= 0 && e.To < e.From {
		return entityBytes{}, fmt.Errorf("%w: entity-bytes=%q ends before it starts", errBadFormat, s)
	}
	return e, nil
}

// parseOffset accepts a decimal integer with an optional minus sign and
// nothing else (no plus, no spaces, no leading zeros beyond "0").
func parseOffset(s string) (int64, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %v", s, err)
	}
	return v, nil
}

// parseCARParams reads dag-scope, entity-bytes and the CAR format
// parameters from the query (car-version, car-order, car-dups, which win)
// and from the media type params Accept chose.
func parseCARParams(q url.Values, accept map[string]string) (carParams, error) {
	p := carParams{scope: dag.ScopeAll}
	switch s := q.Get("dag-scope"); s {
	case "", "all":
	case "entity":
		p.scope = dag.ScopeEntity
	case "block":
		p.scope = dag.ScopeBlock
	default:
		return carParams{}, fmt.Errorf("%w: dag-scope=%q (want block, entity or all)", errBadFormat, s)
	}
	if q.Has("entity-bytes") {
		if s := q.Get("dag-scope"); s != "" && s != "entity" {
			return carParams{}, fmt.Errorf("%w: entity-bytes implies dag-scope=entity, not %q", errBadFormat, s)
		}
		e, err := parseEntityBytes(q.Get("entity-bytes"))
		if err != nil {
			return carParams{}, err
		}
		p.scope, p.rng, p.rawRange = dag.ScopeEntity, &e, q.Get("entity-bytes")
	}
	get := func(name string) string {
		if v := q.Get("car-" + name); v != "" {
			return v
		}
		return accept[name]
	}
	if v := get("version"); v != "" && v != "1" {
		return carParams{}, fmt.Errorf("%w: CAR version %q (only version 1)", errNotAcceptable, v)
	}
	if v := get("order"); v != "" && v != "dfs" && v != "unk" {
		return carParams{}, fmt.Errorf("%w: CAR order %q (only dfs)", errNotAcceptable, v)
	}
	switch v := get("dups"); v {
	case "", "n":
	case "y":
		p.dups = true
	default:
		return carParams{}, fmt.Errorf("%w: CAR dups %q (want y or n)", errNotAcceptable, v)
	}
	return p, nil
}

// negotiate picks the response format: ?format= first, as the specs say,
// then the Accept entry of highest quality that can be served. It returns
// the chosen media type's parameters (for a CAR) and whether Accept chose.
func negotiate(r *http.Request) (format string, params map[string]string, byAccept bool, err error) {
	switch f := r.URL.Query().Get("format"); f {
	case "":
	case formatRaw, formatCAR:
		return f, nil, false, nil
	default:
		return "", nil, false, fmt.Errorf("%w: format=%q (want raw or car)", errBadFormat, f)
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return "", nil, false, nil
	}
	bestQ, best, found := -1.0, "", false
	var bestParams map[string]string
	var refused error
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, ps, perr := mime.ParseMediaType(strings.TrimSpace(part))
			if perr != nil {
				continue
			}
			q := 1.0
			if s, ok := ps["q"]; ok {
				if q, perr = strconv.ParseFloat(s, 64); perr != nil || q < 0 {
					continue
				}
			}
			var f string
			switch mt {
			case mediaRaw:
				f = formatRaw
			case mediaCAR:
				f = formatCAR
				if _, err := parseCARParams(url.Values{}, ps); err != nil {
					refused = err
					continue
				}
			case "*/*", "text/*", "text/html", "application/*", "application/octet-stream", "application/x-directory":
				f = ""
			default:
				f = ""
				if strings.HasPrefix(mt, "application/vnd.ipld.") || strings.HasPrefix(mt, "application/vnd.ipfs.") || mt == "application/x-tar" {
					refused = fmt.Errorf("%w: %s (this gateway serves %s, %s and deserialized UnixFS)", errNotAcceptable, mt, mediaRaw, mediaCAR)
					continue
				}
			}
			if q > bestQ && q > 0 {
				bestQ, best, bestParams, found = q, f, ps, true
			}
		}
	}
	if !found && refused != nil {
		return "", nil, false, refused
	}
	return best, bestParams, best != "", nil
}
