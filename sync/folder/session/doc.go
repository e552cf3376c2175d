// Package session speaks the folder protocol on the swarm's connections:
// each side proves, per folder, that it holds the folder's read-only key
// (an HMAC over the connection's TLS exporter, so a proof cannot be
// replayed or relayed), and only then do folder IDs, index summaries and
// records travel. It carries records and never interprets them: the
// folder engine behind the Model it declares checks and stores them.
package session
