package api

// LoopbackHost is loopbackHost, for the external tests.
var LoopbackHost = loopbackHost
