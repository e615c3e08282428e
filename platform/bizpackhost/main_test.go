package bizpackhost_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Binaries built once for the whole package.
var bins struct {
	v1, v2       string // chaos bizpack, versions 1.0.0 and 2.0.0
	sumV1, sumV2 string
	bench        string // the placement benchmark's bizpack
	sumBench     string
	dir          string
}

func TestMain(m *testing.M) {
	if os.Getenv("TMF_CHAOS_HOST") != "" {
		runChildHost() // never returns
	}
	if os.Getenv("TMF_CGROUP_PROBE") != "" { // see TestAnUnprivilegedHostFallsBackToRlimits
		fmt.Println(bizpackhost.DetectCgroups())
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "bizpackhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	build := func(out, version string) string {
		return buildPack(dir, out, "./testdata/chaos", "-X main.version="+version)
	}
	bins.v1, bins.v2 = build("chaos-v1", "1.0.0"), build("chaos-v2", "2.0.0")
	bins.bench = buildPack(dir, "benchpack", "./testdata/benchpack", "")
	bins.sumV1, _ = bizpackhost.Checksum(bins.v1)
	bins.sumV2, _ = bizpackhost.Checksum(bins.v2)
	bins.sumBench, _ = bizpackhost.Checksum(bins.bench)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildPack builds a test bizpack into dir.
func buildPack(dir, out, pkg, ldflags string) string {
	path := filepath.Join(dir, out)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-ldflags", ldflags, "-o", path, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
		os.Exit(1)
	}
	return path
}

// runChildHost is the server of TestNoOrphanWhenServerIsKilled: it starts
// the chaos bizpack, prints its pid and waits to be killed.
func runChildHost() {
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		panic(err)
	}
	if os.Getenv("TMF_CHAOS_HARDEN") != "" {
		if err := bizpackhost.Harden(); err != nil {
			panic(err)
		}
	}
	h := bizpackhost.New(k, bizpackhost.Options{RunDir: os.Getenv("TMF_CHAOS_RUNDIR"), NoLandlock: os.Getenv("TMF_CHAOS_NOLANDLOCK") != ""})
	var args, rw []string
	if f := os.Getenv("TMF_CHAOS_SPAWN"); f != "" {
		args, rw = []string{"--spawn-file", f}, []string{filepath.Dir(f)}
	}
	if f := os.Getenv("TMF_CHAOS_SNOOP"); f != "" {
		args, rw = append(args, "--snoop-file", f), append(rw, filepath.Dir(f))
	}
	if _, err := h.Load(context.Background(), bizpackhost.Spec{Name: "chaos", Path: os.Getenv("TMF_CHAOS_BIN"),
		SHA256: os.Getenv("TMF_CHAOS_SUM"), Args: args, ReadWrite: rw}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", h.Pids()[0])
	select {}
}

// alive reports whether a process exists and is not a zombie.
// stopProcess SIGSTOPs pid and waits until the kernel shows it stopped
// (state T), so that a busy machine cannot let it answer one more call.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'T' {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d did not stop", pid)
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "Z" is a zombie.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}

// eventually polls cond until it holds or 15 seconds pass: a liveness
// wait, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 15s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
