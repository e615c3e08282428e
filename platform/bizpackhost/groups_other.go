//go:build !linux

package bizpackhost

import "log/slog"

// Group records need /proc: elsewhere a host leaves none and reaps none.
func recordGroup(string, int) error       { return nil }
func forgetGroup(string, int)             {}
func reapGroups(string, *slog.Logger) int { return 0 }
