package plugin

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to kill the bizpack when the host dies,
// however it dies.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
