package bizpackhost

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// Harden makes the calling process (the server) not dumpable: its
// /proc/<pid>/environ, mem and fds are then unreadable to processes of the
// same user that lack CAP_SYS_PTRACE, such as the bizpacks it starts, and it
// leaves no core dump. Call it first thing in main.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// dumpable reports whether this process is dumpable (see Harden).
func dumpable() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return err != nil || v != 0
}

// runAs makes cmd run as the configured user (when one is).
func (o Options) runAs(cmd *exec.Cmd) error {
	if o.RunAs == nil {
		return nil
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: o.RunAs.UID, Gid: o.RunAs.GID, Groups: []uint32{}}
	return nil
}

// shareCopy lets the configured user run the host's copy of a binary:
// the copy stays the host's, readable and executable by others but
// writable by nobody, in a directory they may traverse but not list.
func (o Options) shareCopy(dir, path string) error {
	if o.RunAs == nil {
		return nil
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	return os.Chmod(path, 0o555)
}
