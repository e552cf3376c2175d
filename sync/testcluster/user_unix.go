//go:build unix

package testcluster

import (
	"os/exec"
	"syscall"
)

// setUser makes cmd run as u (nil: as this process).
func setUser(cmd *exec.Cmd, u *runAs) {
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
	}
}
