package index

import (
	"context"

	"github.com/shoal-sync/shoal/store/badgerstore"
)

// Needs calls fn with every path whose global record is not on disk
// here, in path order, with its global record and local state (nil when
// nothing is there).
func (ix *Index) Needs(ctx context.Context, fn func(g *Record, l *Local) error) error {
	return ix.NeedsWhere(ctx, nil, fn)
}

// NeedsWhere is Needs for the paths keep accepts (nil: all); keep is
// asked before any record of the path is read, so that the paths a
// selective folder leaves out cost a key each, not two reads.
//
// The paths are read a page at a time, each page in one transaction:
// memory stays bounded however many paths are needed, and fn runs
// outside any transaction, so it may take long and may write to the
// index. A path whose records change meanwhile is seen as it is when
// its page is read.
func (ix *Index) NeedsWhere(ctx context.Context, keep func(path string) bool, fn func(g *Record, l *Local) error) error {
	return ix.needs(ctx, keep, false, fn)
}

// NeedsBackward is NeedsWhere in reverse path order: a directory's
// paths come before the directory itself.
func (ix *Index) NeedsBackward(ctx context.Context, keep func(path string) bool, fn func(g *Record, l *Local) error) error {
	return ix.needs(ctx, keep, true, fn)
}

// needsPage is how many needed paths NeedsWhere reads in one transaction.
const needsPage = 256

func (ix *Index) needs(ctx context.Context, keep func(path string) bool, backward bool, fn func(g *Record, l *Local) error) error {
	type need struct {
		g *Record
		l *Local
	}
	var last []byte // the page's last key; the next starts after it
	page := make([]need, 0, needsPage)
	for {
		page = page[:0]
		more := false
		err := ix.view(ctx, func(t txn) error {
			var paths []string
			collect := func(k, _ []byte) error {
				if len(paths) == needsPage {
					more = true
					return badgerstore.ErrStop
				}
				last = append(last[:0], k...)
				if p := string(k[1:]); keep == nil || keep(p) {
					paths = append(paths, p)
				}
				return nil
			}
			var err error
			switch {
			case backward:
				err = t.t.IterateBefore([]byte{pNeed}, last, collect)
			case last == nil:
				err = t.t.IterateFrom([]byte{pNeed}, []byte{pNeed}, collect)
			default:
				err = t.t.IterateFrom([]byte{pNeed}, append(last, 0), collect)
			}
			if err != nil {
				return err
			}
			for _, p := range paths {
				g, _, err := t.global(p)
				if err != nil {
					return err
				}
				l, err := t.local(p)
				if err != nil {
					return err
				}
				if needs(g, l) {
					page = append(page, need{g, l})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, n := range page {
			if err := fn(n.g, n.l); err != nil {
				return err
			}
			page[i] = need{}
		}
		if !more {
			return nil
		}
	}
}
