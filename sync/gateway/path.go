package gateway

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// Prefix is the URL path under which a Handler serves content.
const Prefix = "/ipfs/"

// MaxPathElems bounds the names a request path may walk below its CID.
const MaxPathElems = 256

// errBadPath is wrapped by errors about a request path that names nothing
// a gateway can serve (400).
var errBadPath = errors.New("bad request path")

// contentPath is a parsed request path: the root CID, the directory entry
// names below it, and whether it ended with a slash.
type contentPath struct {
	root    cid.Cid
	rootStr string // the CID as the request spelled it
	elems   []string
	slash   bool
}

// String returns the path in its canonical form, /ipfs/CID[/a/b][/].
func (p contentPath) String() string {
	var b strings.Builder
	b.WriteString(Prefix)
	b.WriteString(p.rootStr)
	for _, e := range p.elems {
		b.WriteByte('/')
		b.WriteString(e)
	}
	if p.slash {
		b.WriteByte('/')
	}
	return b.String()
}

// parsePath parses an unescaped URL path "/ipfs/CID[/name...][/]". Every
// name must be a valid UnixFS entry name: not empty (no double slashes),
// not "." or "..", without NUL. Only names are followed below the CID, so a
// path that parses can only reach blocks of the CID's DAG.
func parsePath(s string) (contentPath, error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return contentPath{}, fmt.Errorf("%w: %q does not start with %s", errBadPath, s, Prefix)
	}
	head, rest, more := strings.Cut(rest, "/")
	if head == "" {
		return contentPath{}, fmt.Errorf("%w: no CID after %s", errBadPath, Prefix)
	}
	root, err := cid.Decode(head)
	if err != nil {
		return contentPath{}, fmt.Errorf("%w: invalid CID %q: %v", errBadPath, head, err)
	}
	p := contentPath{root: root, rootStr: head}
	if !more {
		return p, nil
	}
	if rest == "" {
		p.slash = true
		return p, nil
	}
	rest, p.slash = strings.CutSuffix(rest, "/")
	for name := range strings.SplitSeq(rest, "/") {
		if len(p.elems) == MaxPathElems {
			return contentPath{}, fmt.Errorf("%w: more than %d names below the CID", errBadPath, MaxPathElems)
		}
		if err := unixfs.ValidName(name); err != nil {
			return contentPath{}, fmt.Errorf("%w: element %d: %v", errBadPath, len(p.elems)+1, err)
		}
		p.elems = append(p.elems, name)
	}
	return p, nil
}
