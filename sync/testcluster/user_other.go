//go:build !unix

package testcluster

import "os/exec"

// setUser cannot run cmd as another user here: tests that need it skip
// (they need root, which they check first).
func setUser(*exec.Cmd, *runAs) {}
