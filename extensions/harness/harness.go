// Package harness runs a bizpack's implementations the way the platform
// does, without a server: in the test's own process, and over a real
// plugin process built from the bizpack's package. A test that runs its
// cases against both knows the bizpack works before it is ever bound.
//
//	func TestGuard(t *testing.T) {
//		for _, r := range harness.Both(t, newBizpack(), ".") {
//			t.Run(r.Name(), func(t *testing.T) {
//				v, err := harness.Call[extensions.Verdict](r, extensions.OrderGuard, "virtual.topup",
//					extensions.GuardRequest{Event: "place", Total: extensions.Money{Amount: 5000, Currency: "CNY"}})
//				...
//			})
//		}
//	}
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

// DefaultTimeout is the deadline of a call unless the Runner sets another.
const DefaultTimeout = time.Second

// Runner calls a bizpack's implementations, in process or over a plugin
// process.
type Runner struct {
	name string
	// Timeout is each call's deadline, as a point's deadline is on the
	// platform.
	Timeout  time.Duration
	manifest extensions.Manifest
	invoke   func(ctx context.Context, calls []plugin.Call) ([]plugin.Result, error)
	proc     *plugin.Process
}

// Name is "in-process" or "plugin".
func (r *Runner) Name() string { return r.name }

// Manifest is the manifest the bizpack reports.
func (r *Runner) Manifest() extensions.Manifest { return r.manifest }

// Pid is the plugin process's id (0 in process).
func (r *Runner) Pid() int {
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid()
}

// CallError is a call that did not answer: the implementation returned an
// error, panicked, ran out of time or does not exist.
type CallError struct {
	Point   string
	Outcome plugin.Outcome
	Message string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Point, e.Outcome, e.Message)
}

// Call calls point with req for identity and decodes the answer. A skip
// returns extensions.ErrSkip; a failure a *CallError.
func Call[Resp, Req any](r *Runner, point, identity string, req Req) (Resp, error) {
	var zero Resp
	body, err := json.Marshal(req)
	if err != nil {
		return zero, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
	defer cancel()
	res, err := r.invoke(ctx, []plugin.Call{{Point: point, Identity: identity, Request: body, Timeout: timeout}})
	if err != nil {
		return zero, err
	}
	switch res[0].Outcome {
	case plugin.OK:
		var out Resp
		if err := json.Unmarshal(res[0].Response, &out); err != nil {
			return zero, fmt.Errorf("%s: decoding the answer: %w", point, err)
		}
		return out, nil
	case plugin.Skip:
		return zero, extensions.ErrSkip
	}
	return zero, &CallError{Point: point, Outcome: res[0].Outcome, Message: res[0].Err}
}

// InProcess runs b's implementations in the test's process, through the
// same JSON encoding as the plugin transport, with panics caught and
// deadlines enforced as the plugin side does.
func InProcess(t testing.TB, b *extensions.Bizpack) *Runner {
	t.Helper()
	if err := b.Err(); err != nil {
		t.Fatalf("bizpack does not check: %v", err)
	}
	return &Runner{name: "in-process", manifest: b.Manifest(), invoke: func(ctx context.Context, calls []plugin.Call) ([]plugin.Result, error) {
		out := make([]plugin.Result, len(calls))
		for i, c := range calls {
			out[i] = plugin.Local(ctx, b, c)
		}
		return out, nil
	}}
}

// Plugin builds the bizpack in the package directory dir (its main
// package) and runs it as a real plugin process, with the platform's
// settings: checksum verified, mutual TLS, no inherited environment. The
// process is killed when the test ends.
func Plugin(t testing.TB, dir string) *Runner {
	t.Helper()
	return Start(t, Build(t, dir))
}

// Start runs an already built bizpack binary as a plugin process.
func Start(t testing.TB, binary string) *Runner {
	t.Helper()
	f, err := os.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := plugin.Checksum(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.Start(plugin.Options{Path: binary, SHA256: sum,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "bizpack", Level: hclog.Warn, Output: os.Stderr})})
	if err != nil {
		t.Fatalf("starting the bizpack: %v", err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, _, _, err := p.Conn().Describe(ctx)
	if err != nil {
		t.Fatalf("describing the bizpack: %v", err)
	}
	return &Runner{name: "plugin", manifest: m, proc: p, invoke: p.Conn().Invoke}
}

// Both returns an in-process runner of b and a plugin runner of the main
// package in dir (usually "."), for a test to run its cases against each.
// Under -short only the in-process runner is returned.
func Both(t testing.TB, b *extensions.Bizpack, dir string) []*Runner {
	t.Helper()
	rs := []*Runner{InProcess(t, b)}
	if !testing.Short() {
		rs = append(rs, Plugin(t, dir))
	}
	return rs
}

var buildMu sync.Mutex

// Build compiles the main package in dir into the test's temporary
// directory and returns the binary's path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(abs))
	cmd := exec.Command(goTool(), "build", "-o", out, ".")
	cmd.Dir = abs
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
