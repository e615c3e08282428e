package bizpackhost

import (
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
)

func (l Limits) withDefaults() Limits {
	if l.Memory == 0 {
		l.Memory = 1 << 30
	}
	if l.CPUWeight == 0 {
		l.CPUWeight = 100
	}
	l.CPUWeight = min(max(l.CPUWeight, 1), 10000)
	if l.Processes == 0 {
		l.Processes = 512
	}
	return l
}

// niceFor is the niceness that gives a process about weight/100 of the
// CPU of a process at niceness 0 (each step is a factor of about 1.25).
func niceFor(weight uint64) int {
	if weight == 0 || weight >= 100 {
		return 0
	}
	n := int(math.Round(math.Log(100/float64(weight)) / math.Log(1.25)))
	return min(n, 19)
}

// setupCgroups finds where the host may make cgroups for its bizpacks and
// logs, once, which limits fall back to rlimits and nice and why.
func (o Options) setupCgroups() *cgroupSetup {
	if o.Limits.Off {
		return nil
	}
	var s *cgroupSetup
	if o.NoCgroups {
		s = &cgroupSetup{Missing: cgroupControllers, Reason: "cgroups turned off (NoCgroups)"}
	} else {
		s = detectHostCgroups()
	}
	s.Tag = "x" // no RunDir: no predecessor to reap (reapStale skips "x")
	if o.RunDir != "" {
		if abs, err := filepath.Abs(o.RunDir); err == nil {
			s.Tag = fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
		}
	}
	if len(s.Missing) > 0 {
		var fb []string
		for _, c := range s.Missing {
			switch c {
			case "memory":
				fb = append(fb, "memory: RLIMIT_DATA")
			case "cpu":
				fb = append(fb, fmt.Sprintf("cpu: nice %d, no cap", o.fallback(s).Nice))
			case "pids":
				if o.RunAs != nil {
					fb = append(fb, "pids: RLIMIT_NPROC of the run-as user")
				} else {
					fb = append(fb, "pids: none (RLIMIT_NPROC needs a run-as user)")
				}
			}
		}
		o.Logger.Warn("no cgroup for some bizpack limits: rlimits and nice instead",
			"unavailable", strings.Join(s.Missing, ","), "fallback", strings.Join(fb, "; "), "reason", s.Reason)
	}
	if n := s.reapStale(); n > 0 {
		o.Logger.Warn("ended processes left in the cgroups of a previous host", "count", n)
	}
	o.Logger.Info("bizpack limits", "cgroups", s.describe(), "memory", o.Limits.Memory, "cpuWeight", o.Limits.CPUWeight,
		"cpuMax", o.Limits.CPUMax, "processes", o.Limits.Processes, "openFiles", o.Limits.OpenFiles)
	return s
}

// fallback are the rlimits and niceness the shim applies: what no cgroup
// of s enforces, besides the open files and address space that only
// rlimits bound.
func (o Options) fallback(s *cgroupSetup) Limits {
	l := o.Limits
	if l.Off {
		return Limits{}
	}
	out := Limits{OpenFiles: l.OpenFiles, AddressSpace: l.AddressSpace, Nice: l.Nice}
	if !s.has("memory") {
		out.Memory = l.Memory // RLIMIT_DATA
	}
	if !s.has("cpu") && out.Nice == 0 {
		out.Nice = niceFor(l.CPUWeight)
	}
	if !s.has("pids") && o.RunAs != nil {
		out.Processes = l.Processes
	}
	return out
}

// mechanism says how a bizpack is limited, for its listing.
func (o Options) mechanism() string {
	if o.Limits.Off {
		return "limits off"
	}
	s := o.cgroups
	f := o.fallback(s)
	var parts []string
	if s != nil && len(s.Hierarchies) > 0 {
		parts = append(parts, "cgroup "+s.describe())
	}
	r := []string{fmt.Sprintf("nofile %d", f.OpenFiles), fmt.Sprintf("as %d", f.AddressSpace)}
	if f.Memory > 0 {
		r = append(r, fmt.Sprintf("data %d", f.Memory))
	}
	if f.Processes > 0 {
		r = append(r, fmt.Sprintf("nproc %d", f.Processes))
	}
	parts = append(parts, "rlimits "+strings.Join(r, " "))
	if f.Nice > 0 {
		parts = append(parts, fmt.Sprintf("nice %d", f.Nice))
	}
	if o.RunAs != nil {
		parts = append(parts, fmt.Sprintf("uid %d", o.RunAs.UID))
	}
	if o.abi > 0 {
		parts = append(parts, fmt.Sprintf("landlock %d", o.abi))
	}
	return strings.Join(parts, "; ")
}

// reachable reports whether every user may pass through each directory
// above dir (and dir itself), so that a RunAs user can reach the copies
// the host makes there.
func reachable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}
