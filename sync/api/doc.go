// Package api is the daemon's local HTTP API and its client. The server
// listens on 127.0.0.1 only and wants the bearer token from the home on
// every call; the client gives the CLI the same methods as an open node,
// so `shoal add`, `cat`, `pin` and the rest work the same with a daemon or
// without one.
//
// Requests and responses are JSON; streams (cat, export, add's report) are
// raw bytes or newline-delimited JSON.
package api
