// Package krpc encodes and decodes the KRPC messages of BitTorrent's
// mainline DHT (BEP 5) with the BEP 42 "ip" field and BEP 44 get/put
// arguments, plus compact node and peer info. Decoding is strict and bounded
// so that any datagram from the network either becomes a well-typed Msg or
// an error the server can answer with code 203; nothing here does I/O.
package krpc
