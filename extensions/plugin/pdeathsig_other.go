//go:build !linux

package plugin

import "os/exec"

// dieWithParent has no kernel support here; the bizpack's own parent watch
// (see Serve) ends it.
func dieWithParent(*exec.Cmd) {}
