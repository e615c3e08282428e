package bizpackhost

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeCgroups lays out cgroup hierarchies under a temporary directory and
// returns the mountinfo that mounts them there. Each entry is a mount:
// "v2" or a v1 controller list such as "memory" or "cpu,cpuacct"; the
// process's group is /svc in each.
func fakeCgroups(t *testing.T, v2Controllers string, v1 ...string) (root, mountinfo, proc string) {
	t.Helper()
	root = t.TempDir()
	var mi, pc strings.Builder
	if v2Controllers != "-" {
		dir := filepath.Join(root, "unified", "svc")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte(v2Controllers+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mi.WriteString("35 30 0:31 / " + filepath.Join(root, "unified") + " rw,relatime - cgroup2 cgroup2 rw\n")
		pc.WriteString("0::/svc\n")
	}
	for i, ctrls := range v1 {
		dir := filepath.Join(root, ctrls)
		if err := os.MkdirAll(filepath.Join(dir, "svc"), 0o755); err != nil {
			t.Fatal(err)
		}
		mi.WriteString("31 30 0:28 / " + dir + " rw,relatime - cgroup cgroup rw," + ctrls + "\n")
		pc.WriteString(string(rune('1'+i)) + ":" + ctrls + ":/svc\n")
	}
	mi.WriteString("22 1 0:20 / /proc rw - proc proc rw\n")
	return root, mi.String(), pc.String()
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestCgroupDetection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v2       string
		v1       []string
		describe string
		missing  []string
		reason   string
	}{
		{"no cgroups mounted", "-", nil, "none", cgroupControllers, "no cgroup hierarchy mounted"},
		{"v2 delegating all", "cpuset cpu io memory pids", nil, "v2 cpu,memory,pids", nil, ""},
		{"v2 delegating memory only", "memory", nil, "v2 memory", []string{"cpu", "pids"}, "no cgroup hierarchy mounted"},
		// This machine: a cgroup2 mount without the controllers, which
		// are bound to v1 hierarchies.
		{"hybrid with the controllers in v1", "hugetlb", []string{"cpu", "cpuacct", "memory", "pids"}, "v1 cpu; v1 memory; v1 pids", nil, ""},
		{"v1 with cpu and cpuacct together", "-", []string{"cpu,cpuacct", "memory"}, "v1 cpu; v1 memory", []string{"pids"}, "no cgroup hierarchy mounted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, mi, pc := fakeCgroups(t, tc.v2, tc.v1...)
			s := detectCgroups(strings.NewReader(mi), strings.NewReader(pc), os.Getpid())
			if got := s.describe(); got != tc.describe {
				t.Errorf("describe = %q, want %q", got, tc.describe)
			}
			if !slices.Equal(s.Missing, tc.missing) && !(len(s.Missing) == 0 && len(tc.missing) == 0) {
				t.Errorf("missing = %v, want %v", s.Missing, tc.missing)
			}
			if !strings.Contains(s.Reason, tc.reason) {
				t.Errorf("reason = %q, want %q", s.Reason, tc.reason)
			}
		})
	}
}

// A v2 group is limited through memory.max, cpu.weight, cpu.max and
// pids.max, its controllers enabled in the host's group first; a v1 one
// through memory.limit_in_bytes, cpu.shares, the cfs quota and
// pids.max; the shim joins v1 groups itself and is cloned into the v2 one.
func TestCgroupFilesWritten(t *testing.T) {
	l := Limits{Memory: 256 << 20, CPUWeight: 50, CPUMax: 1500, Processes: 64}
	t.Run("v2", func(t *testing.T) {
		root, mi, pc := fakeCgroups(t, "cpu memory pids")
		s := detectCgroups(strings.NewReader(mi), strings.NewReader(pc), os.Getpid())
		if got := read(t, filepath.Join(root, "unified", "svc", "cgroup.subtree_control")); got != "+cpu +memory +pids" {
			t.Errorf("subtree_control = %q", got)
		}
		g, err := s.newGroup("my pack", l, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.dirs) != 1 || g.v2 != g.dirs[0] || !strings.Contains(filepath.Base(g.v2), "-my_pack-") || len(g.join()) != 0 {
			t.Fatalf("group %+v", g)
		}
		for file, want := range map[string]string{"memory.max": "268435456", "cpu.weight": "50", "cpu.max": "150000 100000", "pids.max": "64"} {
			if got := read(t, filepath.Join(g.v2, file)); got != want {
				t.Errorf("%s = %q, want %q", file, got, want)
			}
		}
	})
	t.Run("v1", func(t *testing.T) {
		_, mi, pc := fakeCgroups(t, "-", "cpu", "memory", "pids")
		s := detectCgroups(strings.NewReader(mi), strings.NewReader(pc), os.Getpid())
		g, err := s.newGroup("p", l, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.dirs) != 3 || g.v2 != "" || len(g.join()) != 3 {
			t.Fatalf("group %+v", g)
		}
		want := map[string]string{"cpu.shares": "512", "cpu.cfs_quota_us": "150000", "memory.limit_in_bytes": "268435456", "pids.max": "64"}
		for _, d := range g.dirs {
			for file, v := range want {
				if b, err := os.ReadFile(filepath.Join(d, file)); err == nil && strings.TrimSpace(string(b)) != v {
					t.Errorf("%s/%s = %q, want %q", d, file, b, v)
				} else if err == nil {
					delete(want, file)
				}
			}
		}
		if len(want) > 0 {
			t.Errorf("not written: %v", want)
		}
	})
}

// What the shim applies: only what no cgroup enforces.
func TestFallbackLimits(t *testing.T) {
	l := Limits{OpenFiles: 100, AddressSpace: 1 << 32, Memory: 1 << 28, CPUWeight: 25, Processes: 50}
	all := &cgroupSetup{Hierarchies: []cgroupHierarchy{{V2: true, Controllers: cgroupControllers}}}
	none := &cgroupSetup{Missing: cgroupControllers}
	nobody := &User{UID: 65534, GID: 65534}
	for _, tc := range []struct {
		name  string
		s     *cgroupSetup
		runAs *User
		nice  int
		want  Limits
	}{
		{"all in cgroups", all, nil, 0, Limits{OpenFiles: 100, AddressSpace: 1 << 32}},
		{"none, as the server's user", none, nil, 0, Limits{OpenFiles: 100, AddressSpace: 1 << 32, Memory: 1 << 28, Nice: 6}},
		{"none, as nobody", none, nobody, 0, Limits{OpenFiles: 100, AddressSpace: 1 << 32, Memory: 1 << 28, Nice: 6, Processes: 50}},
		{"none, with an explicit nice", none, nil, 2, Limits{OpenFiles: 100, AddressSpace: 1 << 32, Memory: 1 << 28, Nice: 2}},
		{"nil setup (NoCgroups on another OS)", nil, nobody, 0, Limits{OpenFiles: 100, AddressSpace: 1 << 32, Memory: 1 << 28, Nice: 6, Processes: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ll := l
			ll.Nice = tc.nice
			if got := (Options{Limits: ll, RunAs: tc.runAs}).fallback(tc.s); got != tc.want {
				t.Errorf("fallback = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := (Options{Limits: Limits{Off: true}}).fallback(none); got != (Limits{}) {
		t.Errorf("limits off: %+v", got)
	}
}

func TestNiceFor(t *testing.T) {
	for weight, want := range map[uint64]int{0: 0, 100: 0, 500: 0, 80: 1, 50: 3, 25: 6, 10: 10, 1: 19} {
		if got := niceFor(weight); got != want {
			t.Errorf("niceFor(%d) = %d, want %d", weight, got, want)
		}
	}
}
