// Package identity holds the keys that say who a shoal node is and which
// folders it may read or write. A node's identity is an ed25519 key pair kept
// in the state directory; its NodeID is the sha2-256 multihash of the public
// key, printed in multibase base32, and is what TLS certificates prove. Folder
// keys follow the Resilio model (one random read-write secret from which the
// read-only key, the folder ID and the signing key derive), and Proof binds
// possession of a read-only key to one TLS connection.
package identity
