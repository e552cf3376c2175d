package gateway

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
{{.Rows}}</table>
</body>
</html>
`))

type listingPage struct {
	Path, Cid string
	Parent    bool
	Rows      template.HTML // one <tr> per entry, see writeRow
}

// serveListing serves an HTML index of a directory without index.html.
// Rows are written by hand, not by the template: a HAMT of 100,000
// entries renders in a fraction of the time.
func (h *Handler) serveListing(w http.ResponseWriter, r *http.Request, p contentPath, c cid.Cid, links []unixfs.Link) {
	var rows strings.Builder
	for _, l := range links {
		writeRow(&rows, l)
	}
	page := listingPage{Path: p.String(), Cid: c.String(), Parent: len(p.elems) > 0, Rows: template.HTML(rows.String())}
	var body bytes.Buffer
	body.Grow(rows.Len() + 1024)
	if err := listingTmpl.Execute(&body, page); err != nil {
		h.fail(w, r, fmt.Errorf("render listing of %s: %w", c, err))
		return
	}
	setListingHeaders(w, c)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body.Bytes()))
}

// listingETag is the ETag of the listing of directory c: the page's
// layout version and the CID.
func listingETag(c cid.Cid) string {
	return `"DirIndex-` + listingVersion + `_CID-` + c.String() + `"`
}

// listingNotModified answers 304, with the listing's headers, to a
// request that already holds the listing of c: before the directory is
// read, however large.
func listingNotModified(w http.ResponseWriter, r *http.Request, c cid.Cid) bool {
	if !etagMatch(r.Header.Get("If-None-Match"), listingETag(c)) {
		return false
	}
	setListingHeaders(w, c)
	w.WriteHeader(http.StatusNotModified)
	return true
}

func setListingHeaders(w http.ResponseWriter, c cid.Cid) {
	w.Header().Set("Etag", listingETag(c))
	// The CID's content is fixed but the page layout may change with shoal.
	w.Header().Set("Cache-Control", "public, max-age=604800")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
}

// writeRow writes one entry's table row, every value escaped for a
// quoted attribute or text. Both links are relative or under /ipfs/ ("./"
// keeps a name like "javascript:x" a relative path), so no URL scheme can
// reach them.
func writeRow(b *strings.Builder, l unixfs.Link) {
	c := l.Cid.String()
	b.WriteString("\n<tr><td><a href=\"")
	b.WriteString(html.EscapeString("./" + url.PathEscape(l.Name)))
	b.WriteString("\">")
	b.WriteString(html.EscapeString(l.Name))
	b.WriteString("</a></td><td class=\"cid\"><a href=\"")
	b.WriteString(html.EscapeString(Prefix + c + "?filename=" + url.QueryEscape(l.Name)))
	b.WriteString("\">")
	b.WriteString(c)
	b.WriteString("</a></td><td class=\"size\" title=\"")
	b.WriteString(strconv.FormatUint(l.Tsize, 10))
	b.WriteString(" bytes\">")
	b.WriteString(humanSize(l.Tsize))
	b.WriteString("</td></tr>")
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
