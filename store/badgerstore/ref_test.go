package badgerstore

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store"
)

func TestRefRoundTrip(t *testing.T) {
	tests := []store.Ref{
		{Path: "/a", Offset: 0, Length: 0, FileSize: 0, ModTime: time.Unix(0, 0)},
		{Path: "/home/u/folder/some file.bin", Offset: 1 << 40, Length: 262144, FileSize: 1<<40 + 262144,
			ModTime: time.Date(2026, 11, 26, 1, 2, 3, 456789123, time.UTC)},
		{Path: "/old", Offset: 5, Length: 1, FileSize: 6, ModTime: time.Unix(-86400*365*100, 999999999)},
		{Path: "/c", Offset: 7, Length: 8, FileSize: 15, ModTime: time.Unix(1e9, 1),
			CTime: time.Unix(1e9+5, 999), Inode: 1<<40 + 3},
	}
	for _, r := range tests {
		enc := encodeRef(r)
		got, err := decodeRef(enc)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", r, err)
		}
		if got.Path != r.Path || got.Offset != r.Offset || got.Length != r.Length ||
			got.FileSize != r.FileSize || !got.ModTime.Equal(r.ModTime) ||
			!got.CTime.Equal(r.CTime) || got.CTime.IsZero() != r.CTime.IsZero() || got.Inode != r.Inode {
			t.Fatalf("round trip: %+v, want %+v", got, r)
		}
		if over := len(enc) - len(r.Path); over > 45 {
			t.Errorf("encoding takes %d bytes beside the path", over)
		}
	}
}

// TestRefGoldenBytes pins the encoding: a change breaks existing stores.
// Version 1 references, written before ctime and inode were kept, still
// decode (with both unknown).
func TestRefGoldenBytes(t *testing.T) {
	r := store.Ref{Path: "/f", Offset: 300, Length: 65536, FileSize: 1 << 20,
		ModTime: time.Unix(1764633600, 123), CTime: time.Unix(1764633601, 456), Inode: 4242}
	const v2 = "02ac0280800480804080b0f1920d7b82b0f1920dc80392212f66"
	if got := hex.EncodeToString(encodeRef(r)); got != v2 {
		t.Fatalf("encoding %s, want %s", got, v2)
	}
	const v1 = "01ac0280800480804080b0f1920d7b2f66" // as the first version wrote it
	b, _ := hex.DecodeString(v1)
	got, err := decodeRef(b)
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.CTime, want.Inode = time.Time{}, 0
	if got.Path != want.Path || got.Offset != want.Offset || got.Length != want.Length || got.FileSize != want.FileSize ||
		!got.ModTime.Equal(want.ModTime) || !got.CTime.IsZero() || got.Inode != 0 {
		t.Fatalf("version 1 decodes as %+v, want %+v", got, want)
	}
}

func TestDecodeRefErrors(t *testing.T) {
	good := encodeRef(store.Ref{Path: "/p", Offset: 1, Length: 2, FileSize: 3, ModTime: time.Unix(4, 5)})
	tests := map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"no path":     good[:len(good)-2],
		"bad varint":  {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"nanoseconds": {1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, '/'},
		"truncated":   good[:3],
	}
	for name, b := range tests {
		if _, err := decodeRef(b); !errors.Is(err, errBadRef) {
			t.Errorf("%s: decodeRef(%x) = %v, want errBadRef", name, b, err)
		}
	}
}

func FuzzDecodeRef(f *testing.F) {
	f.Add(encodeRef(store.Ref{Path: "/p", Offset: 1, Length: 2, FileSize: 3, ModTime: time.Unix(4, 5)}))
	f.Add(encodeRef(store.Ref{Path: "/x/y", Offset: 1 << 40, Length: 1 << 31, FileSize: 1 << 41, ModTime: time.Unix(-5, 0)}))
	f.Add([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{})
	f.Add([]byte{1, 0xac, 0x02, 0x80, 0x80, 0x04, 0x80, 0x80, 0x40, 0x80, 0xb0, 0xf1, 0x92, 0x0d, 0x7b, '/', 'f'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRef(b)
		if err != nil {
			return
		}
		again, err := decodeRef(encodeRef(r))
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", r, err)
		}
		if again.Path != r.Path || again.Offset != r.Offset || again.Length != r.Length ||
			again.FileSize != r.FileSize || !again.ModTime.Equal(r.ModTime) {
			t.Fatalf("round trip changed %+v to %+v", r, again)
		}
	})
}
