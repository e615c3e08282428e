package bizpackhost

import (
	"context"
	"strings"

	"github.com/tmf-platform/tmf/platform/kernel"
)

// LandlockABI is the kernel's Landlock ABI, for tests to skip what it
// cannot restrict.
func LandlockABI() int { return landlockABI() }

// InvokeActive sends calls to the process of the version in force of
// bizpack name, as the kernel would, with the caller's deadlines.
func InvokeActive(h *Host, name string, ctx context.Context, calls []kernel.RemoteCall) []kernel.RemoteResult {
	h.mu.Lock()
	in := h.packs[name].active
	h.mu.Unlock()
	return in.Invoke(ctx, calls)
}

// InFlight is the number of round trips under way to the version in
// force of bizpack name.
func InFlight(h *Host, name string) int {
	h.mu.Lock()
	in := h.packs[name].active
	h.mu.Unlock()
	return len(in.inflight)
}

// CgroupControllers are the controllers h limits its bizpacks with
// through cgroups (none: rlimits and nice only).
func CgroupControllers(h *Host) []string {
	var out []string
	for _, c := range cgroupControllers {
		if h.opts.cgroups.has(c) {
			out = append(out, c)
		}
	}
	return out
}

// DetectCgroups says what this process could use: the hierarchies, then
// the missing controllers.
func DetectCgroups() string {
	s := detectHostCgroups()
	return s.describe() + " | missing " + strings.Join(s.Missing, ",")
}
