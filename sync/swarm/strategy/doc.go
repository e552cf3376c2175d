// Package strategy holds the swarm's decisions as plain data structures with
// no I/O: which block to request next from which peer (rarest first,
// pipelined by bytes, endgame, strikes) and which peers to unchoke
// (tit-for-tat with an optimistic unchoke). Time is passed in as a value, so
// every decision is table-tested; the swarm engine only carries them out.
package strategy
