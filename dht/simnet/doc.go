// Package simnet is an in-memory packet network for running thousands of DHT
// nodes in one process. Each node gets a net.PacketConn that behaves like a
// UDP socket (deadlines, bounded receive queue, silent drops), while links add
// seeded, deterministic latency, jitter and loss. Delivery is driven by the
// standard time package, so inside a testing/synctest bubble the whole network
// runs in fake time; nodes can be taken down and brought back to model churn.
// Conditions add the mainline DHT's hostile parts as knobs, reproducible
// from a seed: hosts behind filtering NATs, log-normal per-link RTTs, loss,
// slow hosts and heavy-tailed sessions (Mainline gives issue 15's defaults).
package simnet
