package kernel

import (
	"slices"
	"strings"
	"time"
)

// BizpackState is what the admin console shows of one bizpack: the version
// in force, whether its process is up, how often it was restarted, its
// circuit breaker and the latency of each of its points.
type BizpackState struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Status is "running", "starting", "restarting", "refused", "stopped"
	// or, for a bizpack that runs inside the server, "in-process".
	Status string `json:"status"`
	// Breaker is "closed", "open" or "half-open": the worst of its
	// points' breakers (each point has its own, see PointLatency).
	Breaker  string `json:"breaker"`
	Restarts int    `json:"restarts"`
	Pid      int    `json:"pid,omitempty"`
	// RoundTrips counts the batches sent to the process: a phase's calls
	// travel together, so this grows slower than the calls of its points.
	RoundTrips int64  `json:"roundTrips"`
	LastError  string `json:"lastError,omitempty"`
	// Since is when the status last changed.
	Since time.Time `json:"since,omitzero"`
	// Standby is the previous version, kept running for a rollback.
	Standby string `json:"standby,omitempty"`
	// LogLinesDropped counts the bizpack's log lines the host dropped
	// (over its rate limit).
	LogLinesDropped int64 `json:"logLinesDropped,omitempty"`
	// Sandbox says how the bizpack's process is limited and confined
	// (cgroups or rlimits, nice, its user, Landlock ABI).
	Sandbox string         `json:"sandbox,omitempty"`
	Points  []PointLatency `json:"points"`
}

// PointLatency summarises the recent calls of one point of a bizpack.
type PointLatency struct {
	Point    string        `json:"point"`
	Calls    int64         `json:"calls"`
	Failures int64         `json:"failures"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	// Breaker is the point's own circuit breaker: "closed", "open" or
	// "half-open" (empty for a bizpack inside the server).
	Breaker string `json:"breaker,omitempty"`
}

// StateReporter is implemented by a Remote that can say how it is doing.
type StateReporter interface {
	BizpackState() BizpackState
}

// Bizpacks returns the state of every registered bizpack, sorted by name.
func (k *Kernel) Bizpacks() []BizpackState {
	k.reg.mu.RLock()
	bps := make([]Bizpack, 0, len(k.reg.bizpacks))
	for _, b := range k.reg.bizpacks {
		bps = append(bps, b)
	}
	k.reg.mu.RUnlock()
	out := make([]BizpackState, 0, len(bps))
	for _, b := range bps {
		st := BizpackState{Name: b.Name, Version: b.Version, Status: "in-process", Breaker: "closed"}
		for _, im := range b.Impls {
			if r, ok := im.remote.(StateReporter); ok {
				st = r.BizpackState()
				break
			}
		}
		if st.Status == "in-process" {
			for _, im := range b.Impls {
				st.Points = append(st.Points, PointLatency{Point: im.Point.Name})
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b BizpackState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
