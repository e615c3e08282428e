//go:build !linux

package bizpackhost

import (
	"errors"
	"os/exec"
)

// Harden is not supported here.
func Harden() error { return errors.ErrUnsupported }

func (o Options) runAs(*exec.Cmd) error {
	if o.RunAs != nil {
		return errors.New("running bizpacks as another user is supported on Linux only")
	}
	return nil
}

func dumpable() bool { return true }

func (o Options) shareCopy(string, string) error { return nil }
