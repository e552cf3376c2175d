package badgerstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/storetest"
)

var ctx = context.Background()

func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func open(t testing.TB, dir string, opt Options) *Store {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, t.TempDir(), Options{})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	file := unixfs.RawCIDOf([]byte("persisted"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 8192)
	bigCid := unixfs.RawCIDOf(big)
	b := s.NewBatch(ctx)
	if err := b.Put(file, []byte("persisted")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(bigCid, big); err != nil {
		t.Fatal(err)
	}
	if err := b.Pin(bigCid, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	refData := []byte("referenced bytes")
	refCid := unixfs.RawCIDOf(refData)
	refPath := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(refPath, refData, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(refPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutRef(refCid, store.Ref{Path: refPath, Length: uint32(len(refData)),
		FileSize: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.KV("index").Put(ctx, []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, Options{})
	defer s.Close()
	for c, want := range map[string][]byte{file.KeyString(): []byte("persisted"), bigCid.KeyString(): big,
		refCid.KeyString(): refData} {
		got, err := s.Get(ctx, mustCast(t, c))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Get after reopen: %d bytes, %v", len(got), err)
		}
	}
	pins, err := s.Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].Cid.Equals(bigCid) || pins[0].Mode != store.PinRecursive {
		t.Fatalf("pins after reopen = %v, %v", pins, err)
	}
	if v, err := s.KV("index").Get(ctx, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("KV after reopen = %q, %v", v, err)
	}
}

func TestHashOnRead(t *testing.T) {
	for _, hashOnRead := range []bool{false, true} {
		s := open(t, t.TempDir(), Options{HashOnRead: hashOnRead})
		defer s.Close()
		c := unixfs.RawCIDOf([]byte("right"))
		b := s.NewBatch(ctx)
		if err := b.Put(c, []byte("wrong")); err != nil { // Put trusts the caller
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, c)
		if got := errors.Is(err, store.ErrHashMismatch); got != hashOnRead {
			t.Fatalf("HashOnRead=%v: Get = %v", hashOnRead, err)
		}
	}
}

func TestLargeBatchFlushes(t *testing.T) {
	// A batch far over flushBytes writes in several transactions; all of it
	// must land, with its pin, and none of it be lost at the seams.
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	b := s.NewBatch(ctx)
	defer b.Discard()
	var blocks [][]byte
	buf := make([]byte, 64*1024) // reused: Put must copy
	for i := range 300 {
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 32*1024)
		blocks = append(blocks, data)
		copy(buf, data)
		if err := b.Put(unixfs.RawCIDOf(data), buf); err != nil {
			t.Fatal(err)
		}
	}
	last := unixfs.RawCIDOf(blocks[len(blocks)-1])
	if err := b.Pin(last, store.PinDirect); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, data := range blocks {
		got, err := s.Get(ctx, unixfs.RawCIDOf(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get: %d bytes, %v", len(got), err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Blocks != 300 || st.DataBytes != 300*64*1024 || st.Pins != 1 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if st.DiskBytes < st.DataBytes {
		t.Fatalf("DiskBytes %d < DataBytes %d", st.DiskBytes, st.DataBytes)
	}
}

func TestBadgerLogger(t *testing.T) {
	var buf strings.Builder
	l := slogLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Infof("info %d", 1)
	l.Debugf("debug %d", 2)
	l.Warningf("disk %s\n", "slow")
	l.Errorf("broke %d", 3)
	out := buf.String()
	for _, want := range []string{`level=WARN msg="badger: disk slow"`, `level=ERROR msg="badger: broke 3"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "info") || strings.Contains(out, "debug") {
		t.Errorf("log %q has badger's info or debug lines", out)
	}
}

// TestRefOverhead records references for 512 MiB of file data in 64 KiB
// blocks and checks the database stays under 5 % of that on disk.
func TestRefOverhead(t *testing.T) {
	const n, size = 8192, 64 << 10
	dir := t.TempDir()
	s := open(t, dir, Options{})
	path := "/home/someone/Sync/photos/2026/a-long-enough-file-name.mkv"
	mtime := time.Now()
	b := s.NewBatch(ctx)
	defer b.Discard()
	for i := range n {
		c := unixfs.RawCID(sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i))))
		if err := b.PutRef(c, store.Ref{Path: path, Offset: int64(i) * size, Length: size,
			FileSize: n * size, ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{})
	defer s.Close()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.StaleRefs != n { // the file does not exist: none is held
		t.Fatalf("Stats = %+v", st)
	}
	refBytes := int64(n * size)
	ratio := float64(st.DiskBytes) / float64(refBytes)
	t.Logf("references for %d MiB take %d KiB on disk: %.3f %%", refBytes>>20, st.DiskBytes>>10, 100*ratio)
	if ratio > 0.05 {
		t.Fatalf("references take %.2f %% of the data on disk, want < 5 %%", 100*ratio)
	}
}
