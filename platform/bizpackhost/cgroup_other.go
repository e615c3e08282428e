//go:build !linux

package bizpackhost

import "os/exec"

var cgroupControllers = []string{"memory", "cpu", "pids"}

type cgroupHierarchy struct{}

type cgroupSetup struct {
	Hierarchies []cgroupHierarchy
	Missing     []string
	Reason      string
	Tag         string
}

func detectHostCgroups() *cgroupSetup {
	return &cgroupSetup{Missing: cgroupControllers, Reason: "cgroups are Linux only"}
}

func (s *cgroupSetup) has(string) bool  { return false }
func (s *cgroupSetup) describe() string { return "none" }
func (s *cgroupSetup) newGroup(string, Limits, *User) (*bizpackCgroup, error) {
	return nil, nil
}

type bizpackCgroup struct{}

func (g *bizpackCgroup) join() []string                    { return nil }
func (g *bizpackCgroup) prepare(*exec.Cmd) (func(), error) { return func() {}, nil }
func (g *bizpackCgroup) remove()                           {}
func (g *bizpackCgroup) oomKills() int64                   { return -1 }

func (s *cgroupSetup) reapStale() int { return 0 }
