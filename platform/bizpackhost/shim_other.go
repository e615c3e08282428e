//go:build !linux

package bizpackhost

// Elsewhere no shim runs: limits are not applied (the host says so).
func shimEnviron(Limits, *landlockSpec, bool, ...string) string { return "" }
