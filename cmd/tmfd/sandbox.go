package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
)

// sandboxConfig is the `sandbox:` section of the configuration file, beside
// `bizpacks:`: how every bizpack process is limited and confined (see
// docs/bizpacks.md, "What a bizpack can and cannot do"). Flags and
// TMF_BIZPACK_* variables override it field by field. Zero fields take
// bizpackhost's defaults.
type sandboxConfig struct {
	// RunAs is the user bizpacks run as: a user name, "uid:gid", or
	// "root". A root server without it runs them as nobody (65534:65534
	// when the system has no such user, with a warning); "root" runs them
	// as root, with a warning at every start. A server that is not root
	// runs them as itself and refuses another user.
	RunAs string `json:"runAs,omitempty"`
	// Memory per bizpack process: bytes, or with a suffix Ki, Mi, Gi
	// ("1Gi").
	Memory string `json:"memory,omitempty"`
	// CPUWeight is its CPU share against the server's 100 (1-10000).
	CPUWeight uint64 `json:"cpuWeight,omitempty"`
	// CPUMax caps its CPU in thousandths of a core (cgroups only).
	CPUMax uint64 `json:"cpuMax,omitempty"`
	// Processes caps its processes and threads.
	Processes uint64 `json:"processes,omitempty"`
	// OpenFiles is its RLIMIT_NOFILE.
	OpenFiles uint64 `json:"openFiles,omitempty"`
	// LogRate is how many of its log lines a second reach the server's
	// log.
	LogRate int `json:"logRate,omitempty"`
	// Network "allow" gives every bizpack the network; by default
	// ("manifest") only those whose manifest asks for it get it.
	Network string `json:"network,omitempty"`
	// Cgroups "off" limits with rlimits and nice only; by default
	// ("auto") with cgroups where the server may make them.
	Cgroups string `json:"cgroups,omitempty"`
	// Landlock "off" leaves the bizpacks' filesystem and network
	// unrestricted; by default ("auto") Landlock confines them where the
	// kernel has it.
	Landlock string `json:"landlock,omitempty"`
}

// sandboxFlags registers the flags (with TMF_ variables as their
// defaults) that override the file's sandbox section; the returned
// function, called after parsing, gives those that are set as a section
// (the others zero).
func sandboxFlags(fs *flag.FlagSet, getenv func(string) string) func() (sandboxConfig, error) {
	type field struct {
		flag, env, usage string
		v                *string
	}
	fields := []field{
		{"bizpack-run-as", "BIZPACK_RUN_AS", "user bizpacks run as: name, uid:gid or root (default for a root server: nobody)", nil},
		{"bizpack-memory", "BIZPACK_MEMORY", "memory per bizpack process, e.g. 512Mi (default 1Gi)", nil},
		{"bizpack-cpu-weight", "BIZPACK_CPU_WEIGHT", "CPU share of a bizpack against 100 for the server (default 100)", nil},
		{"bizpack-cpu-max", "BIZPACK_CPU_MAX", "CPU cap of a bizpack in thousandths of a core (default none; cgroups only)", nil},
		{"bizpack-processes", "BIZPACK_PROCESSES", "processes and threads per bizpack (default 512)", nil},
		{"bizpack-open-files", "BIZPACK_OPEN_FILES", "open files per bizpack process (default 1024)", nil},
		{"bizpack-log-rate", "BIZPACK_LOG_RATE", "log lines a second a bizpack may send to the server's log (default 50)", nil},
		{"bizpack-network", "BIZPACK_NETWORK", "manifest (only bizpacks that ask get the network) or allow", nil},
		{"bizpack-cgroups", "BIZPACK_CGROUPS", "auto or off (rlimits and nice only)", nil},
		{"bizpack-landlock", "BIZPACK_LANDLOCK", "auto or off (no filesystem or network confinement)", nil},
	}
	for i := range fields {
		f := &fields[i]
		f.v = fs.String(f.flag, getenv("TMF_"+f.env), f.usage)
	}
	return func() (sandboxConfig, error) {
		var c sandboxConfig
		for _, f := range fields {
			v := strings.TrimSpace(*f.v)
			if v == "" {
				continue
			}
			num := func(p *uint64) error {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return fmt.Errorf("--%s (TMF_%s) %q: want a whole number", f.flag, f.env, v)
				}
				*p = n
				return nil
			}
			var err error
			switch f.flag {
			case "bizpack-run-as":
				c.RunAs = v
			case "bizpack-memory":
				c.Memory = v
			case "bizpack-cpu-weight":
				err = num(&c.CPUWeight)
			case "bizpack-cpu-max":
				err = num(&c.CPUMax)
			case "bizpack-processes":
				err = num(&c.Processes)
			case "bizpack-open-files":
				err = num(&c.OpenFiles)
			case "bizpack-log-rate":
				var n uint64
				err = num(&n)
				c.LogRate = int(min(n, 1<<20))
			case "bizpack-network":
				c.Network = v
			case "bizpack-cgroups":
				c.Cgroups = v
			case "bizpack-landlock":
				c.Landlock = v
			}
			if err != nil {
				return c, err
			}
		}
		return c, nil
	}
}

// parseBytes reads "1073741824", "512Mi", "1Gi", "64Ki" (also "512M",
// "1G": the same binary units).
func parseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q: want a size such as 512Mi or 1Gi", s)
	}
	return n * mult, nil
}

// hostOptions turns the sandbox section into the bizpack host's options.
// euid is the server's effective user; lookup finds a user by name.
func (c sandboxConfig) hostOptions(euid int, lookup func(string) (*user.User, error), log *slog.Logger) (bizpackhost.Options, error) {
	var o bizpackhost.Options
	var err error
	if c.Memory != "" {
		if o.Limits.Memory, err = parseBytes(c.Memory); err != nil {
			return o, fmt.Errorf("sandbox memory %w", err)
		}
	}
	if c.CPUWeight > 10000 {
		return o, fmt.Errorf("sandbox cpuWeight %d: want 1 to 10000", c.CPUWeight)
	}
	o.Limits.CPUWeight, o.Limits.CPUMax, o.Limits.Processes, o.Limits.OpenFiles = c.CPUWeight, c.CPUMax, c.Processes, c.OpenFiles
	if c.LogRate < 0 {
		return o, fmt.Errorf("sandbox logRate %d cannot be negative", c.LogRate)
	}
	o.LogRate = c.LogRate
	switch c.Network {
	case "", "manifest":
	case "allow":
		o.Network = true
	default:
		return o, fmt.Errorf("sandbox network %q: want manifest or allow", c.Network)
	}
	for _, s := range []struct {
		name, v string
		off     *bool
	}{{"cgroups", c.Cgroups, &o.NoCgroups}, {"landlock", c.Landlock, &o.NoLandlock}} {
		switch s.v {
		case "", "auto":
		case "off":
			*s.off = true
		default:
			return o, fmt.Errorf("sandbox %s %q: want auto or off", s.name, s.v)
		}
	}
	o.RunAs, err = resolveRunAs(c.RunAs, euid, lookup, log)
	return o, err
}

// resolveRunAs decides the bizpacks' user (see sandboxConfig.RunAs).
func resolveRunAs(runAs string, euid int, lookup func(string) (*user.User, error), log *slog.Logger) (*bizpackhost.User, error) {
	if runAs == "root" || runAs == "0:0" {
		if euid == 0 {
			log.Warn("bizpacks run as root (sandbox runAs: root): a bizpack can then do anything the server can; configure an unprivileged user")
		}
		return nil, nil
	}
	if runAs == "" {
		if euid != 0 {
			return nil, nil // as the server itself
		}
		u, err := userOf("nobody", lookup)
		if err != nil {
			log.Warn("the system has no user nobody: bizpacks run as uid 65534, gid 65534 (configure sandbox runAs)", "error", err)
			return &bizpackhost.User{UID: 65534, GID: 65534}, nil
		}
		return u, nil
	}
	u, err := userOf(runAs, lookup)
	if err != nil {
		return nil, fmt.Errorf("sandbox runAs: %w", err)
	}
	if euid != 0 && int(u.UID) != euid {
		return nil, fmt.Errorf("sandbox runAs %q: only a root server can run bizpacks as another user (this one runs as uid %d)", runAs, euid)
	}
	if euid != 0 {
		return nil, nil // itself
	}
	return u, nil
}

// userOf reads "uid:gid" or looks a user name up.
func userOf(s string, lookup func(string) (*user.User, error)) (*bizpackhost.User, error) {
	if a, b, ok := strings.Cut(s, ":"); ok {
		uid, err1 := strconv.ParseUint(a, 10, 32)
		gid, err2 := strconv.ParseUint(b, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%q: want uid:gid in numbers, or a user name", s)
		}
		return &bizpackhost.User{UID: uint32(uid), GID: uint32(gid)}, nil
	}
	u, err := lookup(s)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s has no numeric uid and gid", s)
	}
	return &bizpackhost.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// over is c with the fields set in o (flags, variables) replaced.
func (c sandboxConfig) over(o sandboxConfig) sandboxConfig {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	num := func(dst *uint64, v uint64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&c.RunAs, o.RunAs)
	set(&c.Memory, o.Memory)
	num(&c.CPUWeight, o.CPUWeight)
	num(&c.CPUMax, o.CPUMax)
	num(&c.Processes, o.Processes)
	num(&c.OpenFiles, o.OpenFiles)
	if o.LogRate != 0 {
		c.LogRate = o.LogRate
	}
	set(&c.Network, o.Network)
	set(&c.Cgroups, o.Cgroups)
	set(&c.Landlock, o.Landlock)
	return c
}

// sandboxOptions are the bizpack host's options of a server: the file's
// section overridden by flags and variables.
func sandboxOptions(file, flags sandboxConfig, log *slog.Logger) (bizpackhost.Options, error) {
	return file.over(flags).hostOptions(os.Geteuid(), user.Lookup, log)
}
