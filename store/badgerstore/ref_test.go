package badgerstore

import (
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
	}
	for _, r := range tests {
		enc := encodeRef(r)
		got, err := decodeRef(enc)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", r, err)
		}
		if got.Path != r.Path || got.Offset != r.Offset || got.Length != r.Length ||
			got.FileSize != r.FileSize || !got.ModTime.Equal(r.ModTime) {
			t.Fatalf("round trip: %+v, want %+v", got, r)
		}
		if over := len(enc) - len(r.Path); over > 30 {
			t.Errorf("encoding takes %d bytes beside the path", over)
		}
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
