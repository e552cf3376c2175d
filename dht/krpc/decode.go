package krpc

import (
	"fmt"

	"github.com/shoal-sync/shoal/dht/bencode"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// Decode parses a datagram. On an error after the transaction ID and type
// were read, the returned Msg still carries T, Y and Q so that a server can
// answer a bad query with a 203 error.
func Decode(b []byte) (*Msg, error) {
	v, err := limits.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: top level is %T, not a dictionary", ErrMalformed, v)
	}
	m := &Msg{}
	if m.T, ok = d["t"].(string); !ok {
		return nil, fmt.Errorf("%w: no transaction id", ErrMalformed)
	}
	if m.Y, ok = d["y"].(string); !ok {
		return m, fmt.Errorf("%w: no message type", ErrMalformed)
	}
	m.V, _ = d["v"].(string)
	if ip, ok := d["ip"].(string); ok {
		if a, err := ParseCompactAddr([]byte(ip)); err == nil {
			m.IP = a
		}
	}
	if ro, ok := d["ro"].(int64); ok && ro == 1 {
		m.RO = true
	}
	switch m.Y {
	case "q":
		if m.Q, ok = d["q"].(string); !ok {
			return m, fmt.Errorf("%w: query without method", ErrMalformed)
		}
		a, ok := d["a"].(map[string]any)
		if !ok {
			return m, fmt.Errorf("%w: query %q without arguments", ErrMalformed, m.Q)
		}
		m.A, err = decodeArgs(m.Q, a)
		return m, err
	case "r":
		r, ok := d["r"].(map[string]any)
		if !ok {
			return m, fmt.Errorf("%w: response without values", ErrMalformed)
		}
		m.R, err = decodeReturn(r)
		return m, err
	case "e":
		l, ok := d["e"].([]any)
		if !ok || len(l) < 2 {
			return m, fmt.Errorf("%w: error without [code, message]", ErrMalformed)
		}
		code, ok1 := l[0].(int64)
		msg, ok2 := l[1].(string)
		if !ok1 || !ok2 {
			return m, fmt.Errorf("%w: error of wrong types", ErrMalformed)
		}
		m.E = &Error{Code: int(code), Msg: msg}
		return m, nil
	default:
		return m, fmt.Errorf("%w: message type %q", ErrMalformed, m.Y)
	}
}

// fields reads typed entries of a dictionary, remembering the first error.
type fields struct {
	d   map[string]any
	err error
}

func (f *fields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// bytes returns key's string value; n > 0 requires that exact length.
func (f *fields) bytes(key string, n int, required bool) ([]byte, bool) {
	v, ok := f.d[key]
	if !ok {
		if required {
			f.fail("missing %q", key)
		}
		return nil, false
	}
	s, ok := v.(string)
	if !ok || (n > 0 && len(s) != n) {
		f.fail("%q is not a string of %d bytes", key, n)
		return nil, false
	}
	return []byte(s), true
}

func (f *fields) id(key string, required bool) nodeid.ID {
	var id nodeid.ID
	if b, ok := f.bytes(key, 20, required); ok {
		copy(id[:], b)
	}
	return id
}

func (f *fields) int(key string, required bool) (int64, bool) {
	v, ok := f.d[key]
	if !ok {
		if required {
			f.fail("missing %q", key)
		}
		return 0, false
	}
	i, ok := v.(int64)
	if !ok {
		f.fail("%q is not an integer", key)
	}
	return i, ok
}

func decodeArgs(q string, d map[string]any) (*Args, error) {
	f := &fields{d: d}
	a := &Args{ID: f.id("id", true)}
	if w, ok := d["want"].([]any); ok {
		for _, x := range w {
			if s, ok := x.(string); ok {
				a.Want = append(a.Want, s)
			}
		}
	}
	switch q {
	case FindNode:
		a.Target = f.id("target", true)
	case GetPeers:
		a.InfoHash = f.id("info_hash", true)
	case AnnouncePeer:
		a.InfoHash = f.id("info_hash", true)
		if p, ok := f.int("port", false); ok {
			a.Port = int(p)
		}
		if ip, ok := f.int("implied_port", false); ok && ip != 0 {
			a.ImpliedPort = true
		}
		if a.Port <= 0 && !a.ImpliedPort || a.Port > 65535 {
			f.fail("announce_peer port %d", a.Port)
		}
		tok, _ := f.bytes("token", 0, true)
		a.Token = string(tok)
	case Get:
		a.Target = f.id("target", true)
		if s, ok := f.int("seq", false); ok {
			a.Seq = &s
		}
	case Put:
		tok, _ := f.bytes("token", 0, true)
		a.Token = string(tok)
		v, ok := d["v"]
		if !ok {
			f.fail("put without v")
		} else if raw, err := bencode.Encode(v); err == nil {
			a.V = raw
		}
		a.K, _ = f.bytes("k", 32, false)
		a.Sig, _ = f.bytes("sig", 64, a.K != nil)
		a.Salt, _ = f.bytes("salt", 0, false)
		if s, ok := f.int("seq", a.K != nil); ok {
			a.Seq = &s
		}
		if c, ok := f.int("cas", false); ok {
			a.CAS = &c
		}
	}
	return a, f.err
}

func decodeReturn(d map[string]any) (*Return, error) {
	f := &fields{d: d}
	r := &Return{ID: f.id("id", true)}
	var err error
	if b, ok := f.bytes("nodes", 0, false); ok {
		if r.Nodes, err = DecodeNodes(b, false); err != nil {
			f.fail("nodes: %v", err)
		}
	}
	if b, ok := f.bytes("nodes6", 0, false); ok {
		if r.Nodes6, err = DecodeNodes(b, true); err != nil {
			f.fail("nodes6: %v", err)
		}
	}
	if vals, ok := d["values"].([]any); ok {
		for _, x := range vals {
			s, ok := x.(string)
			if !ok {
				f.fail("values entry is %T", x)
				break
			}
			a, err := ParseCompactAddr([]byte(s))
			if err != nil {
				f.fail("values: %v", err)
				break
			}
			r.Values = append(r.Values, a)
		}
	}
	tok, _ := f.bytes("token", 0, false)
	r.Token = string(tok)
	if v, ok := d["v"]; ok {
		r.V, _ = bencode.Encode(v)
	}
	r.K, _ = f.bytes("k", 32, false)
	r.Sig, _ = f.bytes("sig", 64, false)
	if s, ok := f.int("seq", false); ok {
		r.Seq = &s
	}
	return r, f.err
}
