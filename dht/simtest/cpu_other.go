//go:build !unix

package simtest

import "time"

// cpuTime returns 0: process CPU time is only read on unix systems.
func cpuTime() time.Duration { return 0 }

// peakRSS is not measured here.
func peakRSS() uint64 { return 0 }
