package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Protocol version this package speaks. Peers must agree on Major; a higher
// Minor only adds messages or fields the other side may ignore.
const (
	ProtocolMajor = 1
	ProtocolMinor = 3
)

// MinorVersions is the minor version that added VersionQuery and
// VersionHave: a peer that said less in its Hello closes the connection
// on them (an unknown type), so they are not sent to it.
const MinorVersions = 1

// MinorIndexAck is the minor version that added IndexAck: a peer that
// said less neither sends nor takes it, and its answers are not paced.
const MinorIndexAck = 2

// MinorAnnounce is the minor version that added IndexSummary.Announce: a
// peer that said less would take an announcement for a summary and
// answer it, so it is sent the records themselves.
const MinorAnnounce = 3

// ErrVersion means the peer speaks another major protocol version.
var ErrVersion = errors.New("wire: incompatible protocol version")

// NewHello returns a Hello for this protocol version.
func NewHello(nodeID []byte, client, clientVersion string, listenAddrs []string) Hello {
	return Hello{
		Major: ProtocolMajor, Minor: ProtocolMinor, NodeID: nodeID,
		Client: client, ClientVersion: clientVersion, ListenAddrs: listenAddrs,
	}
}

// CheckHello returns nil when h's major version is ours. Otherwise it
// returns an error wrapping ErrVersion that names both versions and the
// peer's client; send ErrorFor(err) to the peer, then close.
func CheckHello(h Hello) error {
	if h.Major != ProtocolMajor {
		client := h.Client
		if client == "" {
			client = "unknown client"
		}
		if h.ClientVersion != "" {
			client += " " + h.ClientVersion
		}
		return fmt.Errorf("%w: peer (%s) speaks shoal protocol %d.%d, this node speaks %d.%d",
			ErrVersion, client, h.Major, h.Minor, ProtocolMajor, ProtocolMinor)
	}
	return nil
}

// ErrorFor returns the Error message to send a peer before closing because
// of err, with a code chosen from the wire sentinel err wraps.
func ErrorFor(err error) Error {
	var e Error
	if errors.As(err, &e) {
		return e
	}
	code := CodeInternal
	switch {
	case errors.Is(err, ErrVersion):
		code = CodeVersion
	case errors.Is(err, ErrFrameTooLarge):
		code = CodeFrameTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownType):
		code = CodeProtocol
	}
	msg := err.Error()
	if len(msg) > maxErrorLen {
		msg = strings.ToValidUTF8(msg[:maxErrorLen], "")
	}
	return Error{Code: code, Message: msg}
}
