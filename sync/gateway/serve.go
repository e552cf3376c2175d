package gateway

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
)

// serveUnixFS serves c as UnixFS: a file's bytes, a directory's
// index.html or listing.
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
	case unixfs.TypeDirectory:
		if !p.slash {
			// Relative links in the listing and in index.html need the slash.
			loc := (&url.URL{Path: p.String() + "/", RawQuery: r.URL.RawQuery}).String()
			http.Redirect(w, r, loc, http.StatusMovedPermanently)
			return
		}
		links, err := unixfs.ListDir(ctx, g, c)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, l := range links {
			if l.Name == "index.html" {
				h.serveFile(ctx, w, r, g, l.Cid, l.Name)
				return
			}
		}
		h.serveListing(w, r, p, c, links)
	default:
		h.fail(w, r, fmt.Errorf("%s is a UnixFS %s: %w", c, info.Type, errUnsupported))
	}
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
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
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
	http.ServeContent(w, r, name, time.Time{}, fr)
}

// serveRaw serves the single block c.
func (h *Handler) serveRaw(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, c cid.Cid) {
	data, err := g.Get(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setImmutable(w, `"`+c.String()+`.raw"`)
	w.Header().Set("Content-Type", "application/vnd.ipld.raw")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	setDownload(w, r, c.String()+".bin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// serveCAR serves the DAG under c as a CAR v1. An error after the first
// byte can only be reported in the X-Stream-Error trailer, as kubo does;
// the CAR then ends early.
func (h *Handler) serveCAR(ctx context.Context, w http.ResponseWriter, r *http.Request, g needGetter, c cid.Cid) {
	etag := `"` + c.String() + `.car"`
	// A HEAD only learns whether the root is there.
	err := h.need(ctx, c, false)
	if err == nil && r.Method == http.MethodGet {
		g, err = h.needWhole(ctx, r, c)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setImmutable(w, etag)
	w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	setDownload(w, r, c.String()+".car")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Trailer", "X-Stream-Error")
	w.WriteHeader(http.StatusOK)
	if err := dag.Export(r.Context(), g, c, w); err != nil {
		w.Header().Set("X-Stream-Error", err.Error())
		h.log.Warn("gateway CAR stream failed", "path", r.URL.Path, "err", err)
	}
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

func disposition(w http.ResponseWriter, kind, name string) {
	v := kind
	if name != "" {
		// FormatMediaType quotes the name, or encodes it by RFC 2231 when
		// it is not ASCII; it gives "" for a name it cannot encode.
		if f := mime.FormatMediaType(kind, map[string]string{"filename": name}); f != "" {
			v = f
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
