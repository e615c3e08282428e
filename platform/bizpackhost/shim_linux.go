package bizpackhost

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// shimEnv carries a bizpack's limits from the host to the shim: the host's
// own binary, run in the bizpack's process before it (see init), which
// applies them and then executes the bizpack in the same process, so the
// bizpack's first instruction already runs limited. The variable is gone
// from the bizpack's environment.
const shimEnv = "TMF_BIZPACK_SHIM"

func init() {
	if spec, ok := os.LookupEnv(shimEnv); ok {
		runShim(spec) // never returns
	}
}

func runShim(spec string) {
	runtime.LockOSThread() // nice is per thread: set it on the one that executes
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "bizpack shim:", err)
		os.Exit(121)
	}
	var sp shimSpec
	if err := json.Unmarshal([]byte(spec), &sp); err != nil {
		fail(err)
	}
	l := sp.Limits
	if len(os.Args) < 2 {
		fail(fmt.Errorf("no binary to run"))
	}
	set := func(res int, v uint64, name string) {
		if v == 0 {
			return
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
	}
	// Into its cgroups first: what follows, and the bizpack, run limited.
	for _, procs := range sp.Cgroups {
		if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			fail(fmt.Errorf("joining cgroup %s: %w", filepath.Dir(procs), err))
		}
	}
	set(unix.RLIMIT_NOFILE, l.OpenFiles, "RLIMIT_NOFILE")
	set(unix.RLIMIT_DATA, l.Memory, "RLIMIT_DATA")
	set(unix.RLIMIT_AS, l.AddressSpace, "RLIMIT_AS")
	set(unix.RLIMIT_NPROC, l.Processes, "RLIMIT_NPROC")
	if l.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, l.Nice); err != nil {
			fail(fmt.Errorf("nice %d: %w", l.Nice, err))
		}
	}
	// Landlock last: nothing above needs the filesystem, and the exec
	// below needs only the bizpack's binary (and its loader).
	if sp.Landlock != nil {
		if err := applyLandlock(*sp.Landlock); err != nil {
			fail(fmt.Errorf("landlock: %w", err))
		}
	}
	if sp.NoNetwork {
		if err := applySeccomp(); err != nil {
			fail(err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, shimEnv+"=") })
	fail(syscall.Exec(os.Args[1], os.Args[1:], env))
}

// shimSpec is what the host hands the shim: limits (zero ones are not
// set) and, unless nil, the Landlock confinement.
//
// Of Limits, the shim applies OpenFiles (RLIMIT_NOFILE), AddressSpace
// (RLIMIT_AS), Memory (RLIMIT_DATA), Processes (RLIMIT_NPROC) and Nice:
// the host leaves out what a cgroup enforces (Options.fallback).
type shimSpec struct {
	Limits   Limits        `json:"limits"`
	Landlock *landlockSpec `json:"landlock,omitempty"`
	// Cgroups are cgroup.procs files (v1) the shim writes its pid into.
	Cgroups []string `json:"cgroups,omitempty"`
	// NoNetwork installs the seccomp filter (seccomp_linux.go).
	NoNetwork bool `json:"noNetwork,omitempty"`
}

// shimEnviron is the variable that hands l, ll and the cgroups to join to
// the shim.
func shimEnviron(l Limits, ll *landlockSpec, noNetwork bool, join ...string) string {
	if l.Off {
		l = Limits{}
	}
	b, _ := json.Marshal(shimSpec{Limits: l, Landlock: ll, Cgroups: join, NoNetwork: noNetwork})
	return shimEnv + "=" + string(b)
}
