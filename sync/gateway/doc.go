// Package gateway serves content by CID over HTTP the way an IPFS path
// gateway does: GET and HEAD of /ipfs/CID[/path], with files served with
// ranges and immutable caching, directories as index.html or a listing,
// and single blocks or whole DAGs as raw bytes or CAR on request.
//
// It reads through a small Source, so the daemon can mount it twice: for
// callers holding the API token over a source that fetches missing blocks
// from peers, and for everyone else over Public, which serves only pinned
// content the node already holds.
package gateway
