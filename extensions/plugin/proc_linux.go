package plugin

import (
	"errors"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// isolate starts the bizpack in a process group of its own (so that it and
// every child it starts can be killed as one) and asks the kernel to kill it
// when the host dies, however it dies.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// watchExit closes exited when the process pid has ended. It watches the
// process itself through a pidfd, which becomes readable when the process
// exits, before anyone reaps it: an exit is seen even while a child of the
// bizpack keeps its stdout or stderr open (go-plugin reaps it only once the
// pipes close).
func watchExit(pid int, exited chan<- struct{}) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		// ESRCH: already gone (and reaped).
		close(exited)
		return
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		close(exited)
	}()
}

// killGroup sends SIGKILL to every process of the group pgid. A group
// that is already gone is not an error.
func killGroup(pgid int) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
