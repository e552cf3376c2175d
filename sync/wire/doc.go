// Package wire encodes shoal's peer protocol: length-prefixed frames carrying
// a type byte, a request id and a payload, and the typed messages (hello,
// wants, haves, blocks, choking, errors) that travel in them. Payloads are
// CBOR decoded under strict limits, except Block, whose data follows a tiny
// CID header raw so gigabytes move without re-encoding or extra copies. The
// package knows nothing of stores or swarms: it only turns messages into
// bytes and back, and every decoder here is fuzzed.
package wire
