package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// serveUnixFS serves c as UnixFS: a file's bytes, a directory's
// index.html or listing, a symlink's target.
func (h *Handler) serveUnixFS(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, p contentPath, c cid.Cid) {
	info, err := unixfs.Stat(ctx, g, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch info.Type {
	case unixfs.TypeFile, unixfs.TypeRaw:
		name := ""
		if len(p.elems) > 0 {
			name = p.elems[len(p.elems)-1]
		}
		h.serveFile(ctx, w, r, g, c, name)
	case unixfs.TypeDirectory, unixfs.TypeHAMT:
		if !p.slash {
			// Relative links in the listing and in index.html need the slash.
			loc := (&url.URL{Path: p.String() + "/", RawQuery: r.URL.RawQuery}).String()
			http.Redirect(w, r, loc, http.StatusMovedPermanently)
			return
		}
		index, err := unixfs.Lookup(ctx, g, c, "index.html")
		switch {
		case err == nil:
			h.serveFile(ctx, w, r, g, index, "index.html")
			return
		case !errors.Is(err, unixfs.ErrNoLink):
			h.fail(w, r, err)
			return
		}
		if listingNotModified(w, r, c) {
			return
		}
		links, err := unixfs.ListDir(ctx, g, c)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.serveListing(w, r, p, c, links)
	case unixfs.TypeSymlink:
		h.serveSymlink(ctx, w, r, g, c)
	default:
		h.fail(w, r, fmt.Errorf("%s is a UnixFS %s: %w", c, info.Type, errUnsupported))
	}
}

// serveSymlink answers with the link's target as the body, typed
// inode/symlink as boxo does: a gateway never follows a symlink, whose
// target may name anything on the reader's machine.
func (h *Handler) serveSymlink(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, c cid.Cid) {
	data, err := g.Get(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	etag := `"` + c.String() + `"`
	setImmutable(w, etag)
	w.Header().Set("Content-Type", "inode/symlink")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(n.FS.Data))
}

// serveFile serves the file c through http.ServeContent (ranges,
// conditional requests, content type from name's extension or sniffed).
func (h *Handler) serveFile(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, c cid.Cid, name string) {
	etag := `"` + c.String() + `"`
	setImmutable(w, etag)
	name = setDisposition(w, r, name)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// A HEAD needs only what sniffing the type reads, and a range only its
	// own blocks: both fetch lazily, block by block. A whole GET gets the
	// DAG first, or streams it from a Streamer.
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" && !g.local {
		var err error
		if g, err = h.needWhole(ctx, r, c); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	fr, err := unixfs.NewFileReader(r.Context(), g, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer fr.Close()
	// Read the first byte before any header goes out, so that a block
	// that does not read back (a --nocopy file changed since it was
	// added, a block that fails its hash) fails the request with its own
	// error rather than with ServeContent's "seeker can't seek".
	if fr.Size() > 0 {
		var one [1]byte
		_, err := io.ReadFull(fr, one[:])
		if err == nil {
			_, err = fr.Seek(0, io.SeekStart)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	tr := &trackingReader{r: fr}
	http.ServeContent(w, r, name, time.Time{}, tr)
	if tr.err != nil {
		h.abort(r, tr.err)
	}
}

// trackingReader remembers the first error of the reader under it, so
// that a body cut short by it is aborted, not ended as if complete.
type trackingReader struct {
	r   io.ReadSeeker
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

func (t *trackingReader) Seek(off int64, whence int) (int64, error) {
	n, err := t.r.Seek(off, whence)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// abort ends a response whose headers are sent but whose body could not
// be: the connection is reset (HTTP/2: the stream), so the client sees a
// failed transfer, never a body that merely looks short or complete.
func (h *Handler) abort(r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Warn("gateway response aborted after its headers", "method", r.Method, "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// serveRaw serves the single block c.
func (h *Handler) serveRaw(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, c cid.Cid) {
	data, err := g.Get(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	etag := `"` + c.String() + `.raw"`
	setImmutable(w, etag)
	w.Header().Set("Content-Type", mediaRaw)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	setDownload(w, r, c.String()+".bin")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func setImmutable(w http.ResponseWriter, etag string) {
	w.Header().Set("Etag", etag)
	w.Header().Set("Cache-Control", CacheControl)
}

// setDisposition sets Content-Disposition from ?filename= (inline) and
// ?download=true (attachment), as kubo does, and returns the name whose
// extension gives the content type.
func setDisposition(w http.ResponseWriter, r *http.Request, name string) string {
	q := r.URL.Query()
	fn, download := q.Get("filename"), q.Get("download") == "true"
	if fn == "" && !download {
		return name
	}
	if fn == "" {
		fn = name
	}
	kind := "inline"
	if download {
		kind = "attachment"
	}
	disposition(w, kind, fn)
	return fn
}

// setDownload marks a raw or CAR response as an attachment named name,
// unless ?filename= names it.
func setDownload(w http.ResponseWriter, r *http.Request, name string) {
	if fn := r.URL.Query().Get("filename"); fn != "" {
		name = fn
	}
	disposition(w, "attachment", name)
}

// disposition sets Content-Disposition to kind with name, quoted, and
// for a name that is not plain ASCII also as RFC 8187 UTF-8, beside an
// ASCII fallback with "_" for each other character, as the Path Gateway
// spec asks.
func disposition(w http.ResponseWriter, kind, name string) {
	v := kind
	if name != "" {
		var ascii strings.Builder
		plain := true
		for _, r := range name {
			switch {
			case r == '"' || r == '\\':
				ascii.WriteByte('\\')
				ascii.WriteRune(r)
			case r < 0x20 || r >= 0x7f:
				ascii.WriteByte('_')
				plain = false
			default:
				ascii.WriteRune(r)
			}
		}
		v += `; filename="` + ascii.String() + `"`
		if !plain {
			v += "; filename*=UTF-8''" + url.PathEscape(name)
		}
	}
	w.Header().Set("Content-Disposition", v)
}

// etagMatch reports whether an If-None-Match header names etag (weakly)
// or is "*".
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
