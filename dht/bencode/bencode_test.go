package bencode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"i0e", int64(0)},
		{"i-42e", int64(-42)},
		{"i9223372036854775807e", int64(9223372036854775807)},
		{"0:", ""},
		{"4:spam", "spam"},
		{"le", []any{}},
		{"l4:spami3ee", []any{"spam", int64(3)}},
		{"de", map[string]any{}},
		{"d3:bar4:spam3:fooi42ee", map[string]any{"bar": "spam", "foo": int64(42)}},
		{"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", map[string]any{
			"a": map[string]any{"id": "abcdefghij0123456789"}, "q": "ping", "t": "aa", "y": "q"}},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		enc, err := Encode(got)
		if err != nil || string(enc) != tt.in {
			t.Errorf("Encode(Decode(%q)) = %q, %v", tt.in, enc, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		in    string
		limit bool
	}{
		{"", false},
		{"i", false},
		{"ie", false},
		{"i-0e", false},
		{"i03e", false},
		{"i-e", false},
		{"i1.5e", false},
		{"i99999999999999999999e", false},
		{"i9223372036854775808e", false},
		{"5:abc", false},
		{"-1:a", false},
		{"01:a", false},
		{"l", false},
		{"li1e", false},
		{"d", false},
		{"d1:a", false},
		{"di1ei2ee", false},       // integer key
		{"d1:bi1e1:ai2ee", false}, // unsorted
		{"d1:ai1e1:ai2ee", false}, // repeated
		{"i1ei2e", false},         // trailing data
		{"x", false},
		{strings.Repeat("l", 17) + strings.Repeat("e", 17), true},
		{"l" + strings.Repeat("i1e", 1025) + "e", true},
		{"70000:" + strings.Repeat("x", 70000), true},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		want := ErrSyntax
		if tt.limit {
			want = ErrLimit
		}
		if !errors.Is(err, want) {
			t.Errorf("Decode(%.40q) error = %v, want %v", tt.in, err, want)
		}
	}
}

func TestLimits(t *testing.T) {
	l := Limits{MaxDepth: 2, MaxListLen: 3, MaxString: 4}
	for _, ok := range []string{"lli1eee", "li1ei2ei3ee", "4:abcd"} {
		if _, err := l.Decode([]byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"llli1eeee", "li1ei2ei3ei4ee", "d1:ai1e1:bi1e1:ci1e1:di1ee", "5:abcde"} {
		if _, err := l.Decode([]byte(bad)); !errors.Is(err, ErrLimit) {
			t.Errorf("%q: %v, want ErrLimit", bad, err)
		}
	}
}

func TestEncode(t *testing.T) {
	got, err := Encode(map[string]any{
		"z": []any{int64(1), "x", []byte("yy"), Raw("i7e")},
		"a": map[string]any{"b": true, "c": []string{"p", "q"}, "n": -3},
	})
	want := "d1:ad1:bi1e1:cl1:p1:qe1:ni-3ee1:zli1e1:x2:yyi7eee"
	if err != nil || string(got) != want {
		t.Errorf("Encode = %q, %v; want %q", got, err, want)
	}
	if _, err := Encode(3.5); err == nil {
		t.Error("Encode(float) succeeded")
	}
}

func TestDecodePrefix(t *testing.T) {
	v, n, err := Limits{}.DecodePrefix([]byte("4:spamrest"))
	if err != nil || v != "spam" || n != 6 {
		t.Errorf("DecodePrefix = %v, %d, %v", v, n, err)
	}
}

// FuzzDecode checks that decoding never panics and that everything it
// accepts is canonical: encoding the result gives back the input.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"i0e", "i-42e", "4:spam", "le", "de", "l4:spami3ee",
		"d3:bar4:spam3:fooi42ee",
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:eli201e5:errore1:t2:aa1:y1:ee",
		"i03e", "d1:bi1e1:ai2ee", "llllllllllllllllllllee",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", b, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("not canonical: %q re-encodes as %q", b, enc)
		}
	})
}
