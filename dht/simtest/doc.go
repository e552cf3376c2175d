// Package simtest measures the DHT as a whole: thousands of real dht.Servers
// on a simnet network for lookup accuracy and churn, and a few hundred on
// loopback UDP for latency, CPU, memory and packet rate. Each measurement is
// a Run function returning a report, shared by this package's tests (which
// run them in fake time under testing/synctest) and by `shoalbench dht`
// (which runs them in real time, smaller or with zero latency).
package simtest
