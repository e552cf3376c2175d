// Package bencode encodes and strictly decodes bencoded values, the byte
// format of BitTorrent's KRPC messages and BEP 44 items. Decoding accepts
// only canonical input (sorted, unique dictionary keys, no leading zeros,
// no "-0") and enforces limits on nesting depth and list length, so that a
// hostile datagram can cost a node neither much memory nor much time.
// Values decode to int64, string, []any and map[string]any; encoding takes
// the same types plus Raw for pre-encoded bytes, so decode-then-encode of
// any accepted input reproduces it byte for byte.
package bencode
