package dag_test

import (
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store/dag"
)

// FuzzParsePath checks that CID[/path] parsing never panics, and that what
// it accepts is a CID that prints and parses back to itself.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm",
		"bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm/sub/deeper/notes.md",
		"/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
		"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n",
		"", "/", "b", "bafy", "notacid/x", "zzzz", "f01701220",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, rest, err := dag.ParsePath(s)
		if err != nil {
			return
		}
		if !c.Defined() {
			t.Fatalf("%q: accepted an undefined CID", s)
		}
		back, err := cid.Decode(c.String())
		if err != nil || !back.Equals(c) {
			t.Fatalf("%q: CID %s does not round-trip: %v", s, c, err)
		}
		if strings.HasPrefix(rest, "/") || strings.HasSuffix(rest, "/") {
			t.Fatalf("%q: path %q keeps its slashes", s, rest)
		}
	})
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, cid, rest string
		bad           bool
	}{
		{in: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
		{in: "/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku/a/b/", cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", rest: "a/b"},
		{in: "notacid", bad: true},
		{in: "", bad: true},
		{in: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk", bad: true}, // one character short
	}
	for _, tt := range tests {
		c, rest, err := dag.ParsePath(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: accepted", tt.in)
			}
			continue
		}
		if err != nil || c.String() != tt.cid || rest != tt.rest {
			t.Errorf("%q: got %s %q %v, want %s %q", tt.in, c, rest, err, tt.cid, tt.rest)
		}
	}
}
