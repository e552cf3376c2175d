// Package metrics exposes a shoal daemon's figures to Prometheus: swarm
// traffic and peers, store contents, the DHT routing table, plus the Go
// runtime and process collectors, on a registry of the daemon's own.
//
// Figures are read from the running parts at scrape time through small
// interfaces (Swarm, Store, DHT), so nothing on the hot paths counts twice.
// Store statistics may walk the whole store, so they are cached for
// Options.StoreInterval and bounded by Options.StoreTimeout; a failed read
// never fails the scrape.
//
// The daemon serves the handler at GET /metrics on its HTTP API (loopback
// only), behind the same bearer token as the rest of the API, as Syncthing
// does. The token is in the file api.token in the shoal home ($SHOAL_HOME,
// default the OS config dir + /shoal), and changes when the daemon
// restarts, so point Prometheus at the file rather than copying the value:
//
//	scrape_configs:
//	  - job_name: shoal
//	    authorization:
//	      type: Bearer
//	      credentials_file: /home/USER/.config/shoal/api.token
//	    static_configs:
//	      - targets: ['127.0.0.1:4778']
//
// Prometheus re-reads credentials_file on every scrape, so a new token after
// a restart is picked up. The file is mode 0600: run Prometheus as the same
// user or grant it read access (an ACL). The API address is in the file
// api beside it (default 127.0.0.1:4778). By hand:
//
//	curl -H "Authorization: Bearer $(cat ~/.config/shoal/api.token)" http://127.0.0.1:4778/metrics
package metrics
