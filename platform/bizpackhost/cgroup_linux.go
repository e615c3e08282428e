package bizpackhost

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The controllers the host limits bizpacks with.
var cgroupControllers = []string{"memory", "cpu", "pids"}

// cgroupHierarchy is one cgroup hierarchy the host makes bizpack groups
// in: the unified (v2) one, or a v1 one mounted with some of the
// controllers.
type cgroupHierarchy struct {
	V2          bool
	Controllers []string // of cgroupControllers, those this hierarchy limits
	Base        string   // the directory bizpack groups are made in
}

// cgroupSetup is where a host limits its bizpacks with cgroups. A
// controller in no hierarchy is left to rlimits and nice (see
// Limits.fallback).
type cgroupSetup struct {
	Hierarchies []cgroupHierarchy
	Missing     []string // controllers no writable hierarchy offers
	Reason      string   // why they are missing
	// Tag names the host's RunDir in its groups' names
	// (tmf-<tag>-<bizpack>-<host pid>-<n>): a host reaps only the stale
	// groups of a predecessor on the same RunDir.
	Tag string
}

// groupSeq numbers the groups of this process (of all its hosts).
var groupSeq atomic.Int64

func (s *cgroupSetup) has(controller string) bool {
	if s == nil {
		return false
	}
	for _, h := range s.Hierarchies {
		if slices.Contains(h.Controllers, controller) {
			return true
		}
	}
	return false
}

// describe says which mechanism applies, for the log and the listing.
func (s *cgroupSetup) describe() string {
	if s == nil || len(s.Hierarchies) == 0 {
		return "none"
	}
	var parts []string
	for _, h := range s.Hierarchies {
		v := "v1"
		if h.V2 {
			v = "v2"
		}
		parts = append(parts, v+" "+strings.Join(h.Controllers, ","))
	}
	return strings.Join(parts, "; ")
}

// mount is one line of /proc/self/mountinfo that mounts a cgroup
// hierarchy.
type cgroupMount struct {
	point, root string
	v2          bool
	controllers []string // v1: from the super options
}

func parseCgroupMounts(r io.Reader) []cgroupMount {
	var out []cgroupMount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// 31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := cgroupMount{root: f[3], point: unescapeMount(f[4])}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if slices.Contains(cgroupControllers, o) {
					m.controllers = append(m.controllers, o)
				}
			}
			if len(m.controllers) == 0 {
				continue
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroup reads /proc/self/cgroup: the process's group per v1
// controller and ("" key) in the unified hierarchy.
func parseProcCgroup(r io.Reader) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			out[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out
}

// groupDir is the directory of path (a group as /proc/self/cgroup names
// it) under mount m.
func (m cgroupMount) groupDir(path string) string {
	if m.root != "/" {
		// A mount of a subtree (a container's view): paths are
		// relative to it when they lie below it.
		if rest, ok := strings.CutPrefix(path, m.root); ok {
			path = rest
		}
	}
	return filepath.Join(m.point, filepath.FromSlash(path))
}

// detectHostCgroups is detectCgroups for this process.
func detectHostCgroups() *cgroupSetup {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return &cgroupSetup{Missing: cgroupControllers, Reason: err.Error()}
	}
	defer mi.Close()
	pc, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return &cgroupSetup{Missing: cgroupControllers, Reason: err.Error()}
	}
	defer pc.Close()
	return detectCgroups(mi, pc, os.Getpid())
}

// detectCgroups finds, for each controller the host limits, a hierarchy
// where this process may make groups: the unified hierarchy when the
// controller is available in it (it is then enabled for the host's
// children: a v2 group with processes cannot have controlled children,
// so the host first moves itself into a leaf "tmfd" of its own group),
// otherwise the v1 hierarchy mounted with it. Each candidate is probed:
// a group is made, limited and removed. Nothing found: every controller
// is Missing and Reason says why.
func detectCgroups(mountinfo, procCgroup io.Reader, pid int) *cgroupSetup {
	s := &cgroupSetup{}
	mounts := parseCgroupMounts(mountinfo)
	own := parseProcCgroup(procCgroup)
	var reasons []string
	left := slices.Clone(cgroupControllers)
	for _, m := range mounts {
		if !m.v2 {
			continue
		}
		path, ok := own[""]
		if !ok {
			continue
		}
		base := m.groupDir(path)
		avail, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
		if err != nil {
			reasons = append(reasons, "cgroup v2: "+err.Error())
			continue
		}
		var ctrls []string
		for _, c := range strings.Fields(string(avail)) {
			if slices.Contains(left, c) {
				ctrls = append(ctrls, c)
			}
		}
		if len(ctrls) == 0 {
			reasons = append(reasons, fmt.Sprintf("cgroup v2 at %s delegates none of %s", base, strings.Join(left, ", ")))
			continue
		}
		if err := enableV2(base, ctrls, pid); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v2 at %s: %v", base, err))
			continue
		}
		h := cgroupHierarchy{V2: true, Controllers: ctrls, Base: base}
		if err := probe(h); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v2 at %s: %v", base, err))
			continue
		}
		s.Hierarchies = append(s.Hierarchies, h)
		left = slices.DeleteFunc(left, func(c string) bool { return slices.Contains(ctrls, c) })
		break
	}
	for _, m := range mounts {
		if m.v2 {
			continue
		}
		var ctrls []string
		for _, c := range m.controllers {
			if slices.Contains(left, c) {
				ctrls = append(ctrls, c)
			}
		}
		if len(ctrls) == 0 {
			continue
		}
		path, ok := own[m.controllers[0]]
		if !ok {
			continue
		}
		h := cgroupHierarchy{Controllers: ctrls, Base: m.groupDir(path)}
		if err := probe(h); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v1 %s at %s: %v", strings.Join(ctrls, ","), h.Base, err))
			continue
		}
		s.Hierarchies = append(s.Hierarchies, h)
		left = slices.DeleteFunc(left, func(c string) bool { return slices.Contains(ctrls, c) })
	}
	s.Missing = left
	if len(left) > 0 && len(reasons) == 0 {
		reasons = append(reasons, "no cgroup hierarchy mounted with them")
	}
	s.Reason = strings.Join(reasons, "; ")
	return s
}

// enableV2 enables ctrls for the children of base. A group with processes
// of its own cannot (cgroup v2's "no internal processes" rule): then this
// process (the host) moves into base/tmfd first, which works when it is
// the only process there (systemd's Delegate=yes service, a container).
func enableV2(base string, ctrls []string, pid int) error {
	var on []string
	for _, c := range ctrls {
		on = append(on, "+"+c)
	}
	sub := filepath.Join(base, "cgroup.subtree_control")
	err := os.WriteFile(sub, []byte(strings.Join(on, " ")), 0)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		return err
	}
	leaf := filepath.Join(base, "tmfd")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("moving the server into %s: %w", leaf, err)
	}
	return os.WriteFile(sub, []byte(strings.Join(on, " ")), 0)
}

// probe makes a group in h, limits it and removes it.
func probe(h cgroupHierarchy) error {
	dir := filepath.Join(h.Base, fmt.Sprintf("tmf-probe-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer unix.Rmdir(dir)
	return writeLimits(h, dir, Limits{Memory: 1 << 30, CPUWeight: 100, Processes: 1024})
}

// cgroupFiles are the files and values that limit a group of h to l.
func cgroupFiles(h cgroupHierarchy, l Limits) [][2]string {
	var out [][2]string
	add := func(file string, v string) { out = append(out, [2]string{file, v}) }
	for _, c := range h.Controllers {
		switch {
		case c == "memory" && h.V2:
			if l.Memory > 0 {
				add("memory.max", strconv.FormatUint(l.Memory, 10))
				add("memory.swap.max?", "0")
			}
			add("memory.oom.group?", "1")
		case c == "memory":
			if l.Memory > 0 {
				add("memory.limit_in_bytes", strconv.FormatUint(l.Memory, 10))
				add("memory.memsw.limit_in_bytes?", strconv.FormatUint(l.Memory, 10))
			}
		case c == "cpu" && h.V2:
			if l.CPUWeight > 0 {
				add("cpu.weight", strconv.FormatUint(l.CPUWeight, 10))
			}
			if l.CPUMax > 0 {
				add("cpu.max", fmt.Sprintf("%d 100000", l.CPUMax*100))
			}
		case c == "cpu":
			if l.CPUWeight > 0 {
				add("cpu.shares", strconv.FormatUint(max(2, l.CPUWeight*1024/100), 10))
			}
			if l.CPUMax > 0 {
				add("cpu.cfs_period_us", "100000")
				add("cpu.cfs_quota_us", strconv.FormatUint(l.CPUMax*100, 10))
			}
		case c == "pids":
			if l.Processes > 0 {
				add("pids.max", strconv.FormatUint(l.Processes, 10))
			}
		}
	}
	return out
}

// writeLimits limits the group dir of h to l. A file whose name ends in
// "?" in cgroupFiles is optional (a kernel without swap accounting).
func writeLimits(h cgroupHierarchy, dir string, l Limits) error {
	for _, f := range cgroupFiles(h, l) {
		name, optional := strings.CutSuffix(f[0], "?")
		err := os.WriteFile(filepath.Join(dir, name), []byte(f[1]), 0)
		if err != nil && !(optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("%s = %s: %w", name, f[1], err)
		}
	}
	return nil
}

// bizpackCgroup is the group of one bizpack process: a directory in each
// hierarchy of the host's setup.
type bizpackCgroup struct {
	dirs []string
	v2   string // the unified hierarchy's one, if any
}

// newGroup makes and limits the group of one process of bizpack name
// (nil without cgroups). runAs's user, when set, may write the groups' cgroup.procs (v1): the shim,
// running as RunAs's user, moves itself in.
func (s *cgroupSetup) newGroup(name string, l Limits, runAs *User) (*bizpackCgroup, error) {
	if s == nil || len(s.Hierarchies) == 0 {
		return nil, nil
	}
	g := &bizpackCgroup{}
	leaf := fmt.Sprintf("tmf-%s-%s-%d-%d", s.Tag, safeName(name), os.Getpid(), groupSeq.Add(1))
	for _, h := range s.Hierarchies {
		if !h.V2 && slices.Equal(h.Controllers, []string{"cpu"}) && l.CPUWeight == 100 && l.CPUMax == 0 {
			// A v1 cpu group weighs the whole bizpack as one thread
			// against each of the server's (and, at the root, every
			// task's): with nothing to limit, it stays out of one.
			continue
		}
		dir := filepath.Join(h.Base, leaf)
		if err := os.Mkdir(dir, 0o755); err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		g.dirs = append(g.dirs, dir)
		if h.V2 {
			g.v2 = dir
		}
		if err := writeLimits(h, dir, l); err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if runAs != nil && !h.V2 {
			if err := os.Chown(filepath.Join(dir, "cgroup.procs"), int(runAs.UID), int(runAs.GID)); err != nil {
				g.remove()
				return nil, fmt.Errorf("cgroup %s: %w", dir, err)
			}
		}
	}
	return g, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// join are the files the shim writes its pid into before it executes the
// bizpack: the v1 groups. The v2 group is entered at the fork itself
// (prepare).
func (g *bizpackCgroup) join() []string {
	if g == nil {
		return nil
	}
	var out []string
	for _, d := range g.dirs {
		if d != g.v2 {
			out = append(out, filepath.Join(d, "cgroup.procs"))
		}
	}
	return out
}

// prepare starts cmd inside the v2 group (clone3 with CLONE_INTO_CGROUP),
// so that not one instruction of the child runs outside it. The returned
// function closes the group's descriptor once cmd started.
func (g *bizpackCgroup) prepare(cmd *exec.Cmd) (func(), error) {
	if g == nil || g.v2 == "" {
		return func() {}, nil
	}
	fd, err := unix.Open(g.v2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.v2, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return func() { unix.Close(fd) }, nil
}

// pids are the processes in the group.
func (g *bizpackCgroup) pids() []int {
	if g == nil {
		return nil
	}
	var out []int
	for _, d := range g.dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// remove kills what is left in the group (children that left the
// bizpack's process group still cannot leave its cgroup) and removes it,
// waiting up to a few seconds for the killed processes to be gone.
func (g *bizpackCgroup) remove() {
	if g == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range slices.Backward(g.dirs) {
		for {
			for _, pid := range g.pids() {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// oomKills is how many times the kernel's OOM killer acted in the group
// (v2 memory.events oom_kill; v1 memory.oom_control oom_kill), -1 when
// unknown.
func (g *bizpackCgroup) oomKills() int64 {
	if g == nil {
		return -1
	}
	for _, d := range g.dirs {
		for _, f := range []string{"memory.events", "memory.oom_control"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					return n
				}
			}
		}
	}
	return -1
}

// reapStale ends the processes in the bizpack groups of hosts that are
// gone (killed without closing: their bizpacks' children may have left
// the process group, never the cgroup) and removes those groups. It
// returns how many processes it killed.
func (s *cgroupSetup) reapStale() int {
	if s == nil || s.Tag == "" || s.Tag == "x" {
		return 0
	}
	killed := 0
	for _, h := range s.Hierarchies {
		entries, _ := os.ReadDir(h.Base)
		for _, e := range entries {
			f := strings.Split(e.Name(), "-")
			if !e.IsDir() || len(f) < 5 || f[0] != "tmf" || f[1] != s.Tag {
				continue
			}
			pid, err := strconv.Atoi(f[len(f)-2])
			if err != nil || pid == os.Getpid() || pid <= 0 {
				continue
			}
			if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
				continue // its host still runs
			}
			g := &bizpackCgroup{dirs: []string{filepath.Join(h.Base, e.Name())}}
			killed += len(g.pids())
			g.remove()
		}
	}
	return killed
}
