package index

import (
	"testing"
)

// FuzzDecode: any bytes either decode to a record that passes Check and
// re-encodes to a record with the same fields, or give an error.
func FuzzDecode(f *testing.F) {
	r := fileRecord("a/b", []byte("x"))
	r.Version, r.Origin, r.Seq = Vector{{ID: 1, Value: 2}}, 1, 3
	k := testKey()
	rw, _ := k.RW()
	s, err := Sign(&r, k.ID(), rw.SigningKey())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Data)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x01, 0x61, 0x2f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("decoded record fails Check: %v", err)
		}
		enc, err := encMode.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Decode(enc)
		if err != nil || r2.Path != r.Path || r2.Seq != r.Seq || r2.Version.Compare(r.Version) != Equal {
			t.Fatalf("re-encoded record differs: %+v, %v", r2, err)
		}
	})
}

// FuzzValidatePath: an accepted path never escapes the folder.
func FuzzValidatePath(f *testing.F) {
	for _, p := range []string{"a", "a/b", "../x", "/x", ".shoal/x", "a\\b", "a//b"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		if p[0] == '/' || p == ".." || len(p) > MaxPathLen {
			t.Fatalf("accepted %q", p)
		}
		for _, el := range splitSlash(p) {
			if el == ".." || el == "." || el == "" {
				t.Fatalf("accepted %q with element %q", p, el)
			}
		}
	})
}

func splitSlash(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}
