//go:build !linux

package bizpackhost

// Landlock is Linux's: elsewhere bizpacks are not confined (the host says
// so at start).
func landlockABI() int { return 0 }
