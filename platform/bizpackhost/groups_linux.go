package bizpackhost

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A group record names the process group of one bizpack process, so that
// a host that was killed without closing (SIGKILL, a crash) leaves to its
// successor the means to end what it started: the bizpack itself dies with
// the host (Pdeathsig), its children do not. The record holds the group
// id, the leader's start time (clock ticks since boot, /proc/<pid>/stat)
// and its session; a process is ended only if it is in that group and
// session and started no earlier than the leader, so a recycled group id
// is not mistaken for the bizpack's.
const groupExt = ".pgrp"

// procStat is what the host reads of /proc/<pid>/stat.
type procStat struct {
	pgrp, session int
	start         uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold anything: fields
	// are counted after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): pgrp is field 5, session 6, starttime 22.
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	var s procStat
	s.pgrp, _ = strconv.Atoi(f[2])
	s.session, _ = strconv.Atoi(f[3])
	s.start, _ = strconv.ParseUint(f[19], 10, 64)
	return s, nil
}

// recordGroup writes the record of the group that pid leads into dir.
func recordGroup(dir string, pid int) error {
	st, err := readStat(pid)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%d %d %d\n", pid, st.start, st.session)
	return os.WriteFile(filepath.Join(dir, strconv.Itoa(pid)+groupExt), []byte(line), 0o600)
}

func forgetGroup(dir string, pid int) {
	_ = os.Remove(filepath.Join(dir, strconv.Itoa(pid)+groupExt))
}

// reapGroups ends the processes of the groups recorded in dir (left by a
// host that did not close) and removes the records. It returns how many
// processes it killed.
func reapGroups(dir string, log *slog.Logger) int {
	records, _ := filepath.Glob(filepath.Join(dir, "*"+groupExt))
	if len(records) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	killed := 0
	for _, rec := range records {
		b, err := os.ReadFile(rec)
		var pgid, sid int
		var start uint64
		if err == nil {
			_, err = fmt.Sscanf(string(b), "%d %d %d", &pgid, &start, &sid)
		}
		if err != nil || pgid <= 1 {
			log.Warn("bizpack group record unreadable: removed", "record", rec, "error", err)
			_ = os.Remove(rec)
			continue
		}
		for _, d := range procs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			st, err := readStat(pid)
			if err != nil || st.pgrp != pgid || st.session != sid || st.start < start {
				continue
			}
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
				log.Warn("ended a process left by a previous host", "pid", pid, "group", pgid)
			}
		}
		_ = os.Remove(rec)
	}
	return killed
}
