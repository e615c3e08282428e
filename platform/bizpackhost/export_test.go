package bizpackhost

import (
	"context"

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
