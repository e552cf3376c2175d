package gateway

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// listingVersion is part of a listing's ETag, so a new page layout is not
// hidden by caches.
const listingVersion = "shoal1"

var listingTmpl = template.Must(template.New("listing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Path}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
td, th { padding: .2em 1em .2em 0; text-align: left; }
td.size { text-align: right; }
.cid { font-family: monospace; color: #666; }
</style>
</head>
<body>
<h1>Index of {{.Path}}</h1>
<p class="cid">{{.Cid}}</p>
<table>
<tr><th>Name</th><th>CID</th><th>Size</th></tr>
{{- if .Parent}}
<tr><td><a href="../">..</a></td><td></td><td></td></tr>
{{- end}}
{{- range .Entries}}
<tr><td><a href="{{.Href}}">{{.Name}}</a></td><td class="cid"><a href="{{.CidHref}}">{{.Cid}}</a></td><td class="size" title="{{.Bytes}} bytes">{{.Size}}</td></tr>
{{- end}}
</table>
</body>
</html>
`))

type listingEntry struct {
	Name, Href, Cid, CidHref, Size string
	Bytes                          uint64
}

type listingPage struct {
	Path, Cid string
	Parent    bool
	Entries   []listingEntry
}

// serveListing serves an HTML index of a directory without index.html.
func (h *Handler) serveListing(w http.ResponseWriter, r *http.Request, p contentPath, c cid.Cid, links []unixfs.Link) {
	page := listingPage{Path: p.String(), Cid: c.String(), Parent: len(p.elems) > 0}
	for _, l := range links {
		page.Entries = append(page.Entries, listingEntry{
			Name: l.Name,
			// "./" keeps a name like "javascript:x" a relative path.
			Href:    "./" + url.PathEscape(l.Name),
			Cid:     l.Cid.String(),
			CidHref: Prefix + l.Cid.String() + "?filename=" + url.QueryEscape(l.Name),
			Size:    humanSize(l.Tsize),
			Bytes:   l.Tsize,
		})
	}
	var body bytes.Buffer
	if err := listingTmpl.Execute(&body, page); err != nil {
		h.fail(w, r, fmt.Errorf("render listing of %s: %w", c, err))
		return
	}
	etag := `"DirIndex-` + listingVersion + `_CID-` + c.String() + `"`
	w.Header().Set("Etag", etag)
	// The CID's content is fixed but the page layout may change with shoal.
	w.Header().Set("Cache-Control", "public, max-age=604800")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body.Bytes()))
}

// humanSize prints n bytes in binary units.
func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
