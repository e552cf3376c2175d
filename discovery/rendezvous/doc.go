// Package rendezvous meets a folder's peers on the DHT: each folder
// announces, and looks up, a 20-byte key derived from its folder ID and
// the current UTC day. The key says nothing of the folder to a DHT
// observer who does not hold its ID, and changes every day, so its peers
// cannot be linked from one day to the next. Near midnight UTC the
// neighbouring day's key is used too, so peers whose clocks disagree a
// little still meet. Peers found this way must still prove the folder's
// key on the connection before anything of the folder travels.
package rendezvous
