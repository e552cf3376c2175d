// Package walk fetches a whole DAG (a UnixFS file or directory) block by
// block: it takes what the store and the sink hold already, asks a swarm
// session for the rest, and names each node's children to the session as
// soon as the node arrives, so requests stay pipelined down the tree. The
// swarm moves blocks and knows nothing of DAGs; `get`, the gateway and the
// folder puller walk through this package.
package walk
