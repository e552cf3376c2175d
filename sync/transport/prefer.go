package transport

import "github.com/shoal-sync/shoal/sync/identity"

// Prefer reports whether to keep a connection between local and remote when
// the pair holds two (both dialed at once). outbound says whether local dialed
// this one. Both sides answer the same way: the connection dialed by the
// smaller NodeID is kept, the other closed. A connection to oneself is never
// kept. Prefer does not choose between two connections dialed by the same
// side (a reconnect); keep the newer one then.
func Prefer(local, remote identity.NodeID, outbound bool) bool {
	dialer, acceptor := remote, local
	if outbound {
		dialer, acceptor = local, remote
	}
	return dialer.Compare(acceptor) < 0
}
