//go:build !unix

package main

import (
	"errors"
	"os"
	"time"
)

// selfCPU is not measured where getrusage is missing.
func selfCPU() (time.Duration, error) { return 0, errors.ErrUnsupported }

// maxRSS is not measured where getrusage is missing: 0.
func maxRSS(*os.ProcessState) int64 { return 0 }
