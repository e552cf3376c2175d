package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// blocks is a Fetcher of one-block files held in memory: what a peer
// would send, already verified.
type blocks map[cid.Cid][]byte

func (b blocks) Fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error {
	data, ok := b[root]
	if !ok {
		return fmt.Errorf("no peer has %s", root)
	}
	return sink.Put(ctx, root, data)
}

func TestCommitBatch(t *testing.T) {
	ctx := context.Background()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root := t.TempDir()
	mtime := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	fetch := blocks{}
	rec := func(path, content string, mode uint32) *index.Record {
		c := unixfs.RawCIDOf([]byte(content))
		fetch[c] = []byte(content)
		return &index.Record{Path: path, Type: index.TypeFile, Size: int64(len(content)), Mode: mode,
			ModTime: mtime.UnixNano(), Root: c.Bytes(), Version: index.Vector{{ID: 1, Value: 1}}}
	}
	// "old.txt" is on disk already, known to the index; "edited.txt" is
	// too, and is edited between Stage and Commit.
	for _, n := range []string{"old.txt", "edited.txt"} {
		if err := os.WriteFile(filepath.Join(root, n), []byte("before "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	localOf := func(n string) *index.Local {
		info, err := os.Lstat(filepath.Join(root, n))
		if err != nil {
			t.Fatal(err)
		}
		return &index.Local{Type: index.TypeFile, Size: info.Size(), ModTime: info.ModTime().UnixNano(), Mode: 0o644}
	}
	opt := Options{Root: root, Store: st, Fetch: fetch, Device: "TEST"}
	cases := []struct {
		rec     *index.Record
		local   *index.Local
		edit    bool // the file changes on disk after Stage
		wantErr error
	}{
		{rec: rec("new.txt", "new content", 0o644)},
		{rec: rec("sub/dir/exec.sh", "#!/bin/sh\necho hi\n", 0o755)},
		{rec: rec("old.txt", "replaced content", 0o644), local: localOf("old.txt")},
		{rec: rec("edited.txt", "remote content", 0o644), local: localOf("edited.txt"), edit: true, wantErr: ErrLocalChange},
	}
	var staged []*Staged
	for _, c := range cases {
		res, s, err := Stage(ctx, opt, c.rec, c.local)
		if err != nil || res != nil || s == nil {
			t.Fatalf("Stage %s: %v, %v, %v", c.rec.Path, res, s, err)
		}
		if _, err := os.Lstat(filepath.Join(root, c.rec.Path)); c.local == nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s is in place before Commit", c.rec.Path)
		}
		staged = append(staged, s)
	}
	if err := os.WriteFile(filepath.Join(root, "edited.txt"), []byte("a local edit, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := Commit(ctx, staged)
	for i, c := range cases {
		got := out[i]
		abs := filepath.Join(root, filepath.FromSlash(c.rec.Path))
		if c.wantErr != nil {
			if !errors.Is(got.Err, c.wantErr) {
				t.Errorf("%s: err %v, want %v", c.rec.Path, got.Err, c.wantErr)
			}
			if b, _ := os.ReadFile(abs); string(b) != "a local edit, longer" {
				t.Errorf("%s: the local edit was overwritten: %q", c.rec.Path, b)
			}
			if _, err := os.Stat(staged[i].tmp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: temporary file left: %v", c.rec.Path, err)
			}
			continue
		}
		if got.Err != nil {
			t.Fatalf("%s: %v", c.rec.Path, got.Err)
		}
		b, err := os.ReadFile(abs)
		if err != nil || !bytes.Equal(b, fetch[c.rec.Cid()]) {
			t.Fatalf("%s holds %q, %v", c.rec.Path, b, err)
		}
		info, _ := os.Stat(abs)
		if info.Mode().Perm() != c.rec.FileMode() || !info.ModTime().Equal(mtime) {
			t.Errorf("%s: mode %v mtime %v", c.rec.Path, info.Mode(), info.ModTime())
		}
		l := got.Result.Local
		if l.Size != c.rec.Size || l.ModTime != mtime.UnixNano() || !bytes.Equal(l.Root, c.rec.Root) {
			t.Errorf("%s: local state %+v", c.rec.Path, l)
		}
		// The block is now a reference into the file in place.
		data, err := st.Get(ctx, c.rec.Cid())
		if err != nil || !bytes.Equal(data, b) {
			t.Errorf("%s: store holds %q, %v", c.rec.Path, data, err)
		}
	}
	// The replaced file's old bytes were kept as a version, not lost.
	kept, _ := filepath.Glob(filepath.Join(root, VersionsDir, "old.txt~*"))
	if len(kept) != 1 {
		t.Fatalf("versions of old.txt: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != "before old.txt" {
		t.Errorf("kept version holds %q", b)
	}
	var left []string
	filepath.WalkDir(filepath.Join(root, TempDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
