package bizpackhost

import (
	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// applyLandlock restricts the calling process (the shim) to s, at the
// highest Landlock ABI the package knows, degraded to what the kernel
// offers (none at all without Landlock: the host warns at start).
func applyLandlock(s landlockSpec) error {
	cfg := landlock.V11.BestEffort()
	if s.Network {
		cfg.HandledAccessNet = 0
	}
	rules := []landlock.Rule{
		landlock.ROFiles(s.Exec),
		landlock.RWDirs(s.Sock),
		// What a Go binary (and a dynamically linked one) needs.
		landlock.RWFiles("/dev/null", "/dev/zero", "/dev/full").IgnoreIfMissing(),
		landlock.ROFiles("/dev/urandom", "/dev/random", "/etc/localtime", "/etc/ld.so.cache").IgnoreIfMissing(),
		landlock.RODirs("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/share/zoneinfo").IgnoreIfMissing(),
		// Its own /proc/<pid> (the pid survives the exec): limits, status.
		landlock.RODirs("/proc/self").IgnoreIfMissing(),
	}
	if s.Network {
		// Name resolution and TLS roots.
		rules = append(rules,
			landlock.ROFiles("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/services", "/etc/gai.conf", "/etc/host.conf").IgnoreIfMissing(),
			landlock.RODirs("/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/usr/share/ca-certificates").IgnoreIfMissing())
	}
	if len(s.ReadOnly) > 0 {
		rules = append(rules, landlock.RODirs(s.ReadOnly...).IgnoreIfMissing())
	}
	if len(s.ReadWrite) > 0 {
		rules = append(rules, landlock.RWDirs(s.ReadWrite...))
	}
	return cfg.Restrict(rules...)
}

// landlockABI is the Landlock ABI version of the running kernel, 0
// without Landlock. It only asks: nothing is restricted.
func landlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}
