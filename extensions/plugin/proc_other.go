//go:build !linux

package plugin

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// isolate has no kernel support here; the bizpack's own parent watch (see
// Serve) ends it when the host is gone.
func isolate(*exec.Cmd) {}

// watchExit polls for the process's end (signal 0).
func watchExit(pid int, exited chan<- struct{}) {
	go func() {
		for {
			p, err := os.FindProcess(pid)
			if err != nil || p.Signal(syscall.Signal(0)) != nil {
				close(exited)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// killGroup kills only the process itself here.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
