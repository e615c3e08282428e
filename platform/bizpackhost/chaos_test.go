package bizpackhost_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
)

type env struct {
	k *kernel.Kernel
	h *bizpackhost.Host
}

// fast are host options that make restarts and breakers quick in tests.
var fast = bizpackhost.Options{BreakerFailures: 3, BreakerCooldown: 100 * time.Millisecond,
	MaxBreakerCooldown: 400 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	ExitPoll: 10 * time.Millisecond, Drain: 200 * time.Millisecond}

func setup(t *testing.T, o bizpackhost.Options) *env {
	t.Helper()
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	h := bizpackhost.New(k, o)
	t.Cleanup(func() {
		pids := h.Pids()
		h.Close()
		for _, pid := range pids {
			eventually(t, "bizpack process gone after Close", func() bool { return !alive(pid) })
		}
	})
	return &env{k: k, h: h}
}

func v1() bizpackhost.Spec { return bizpackhost.Spec{Name: "chaos", Path: bins.v1, SHA256: bins.sumV1} }
func v2() bizpackhost.Spec { return bizpackhost.Spec{Name: "chaos", Path: bins.v2, SHA256: bins.sumV2} }

func (e *env) load(t *testing.T, s bizpackhost.Spec) {
	t.Helper()
	if _, err := e.h.Load(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func (e *env) bind(t *testing.T) {
	t.Helper()
	if _, err := e.k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "retail", Bizpacks: []kernel.BizpackRef{{Name: "chaos"}}}}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) begin(t *testing.T) *kernel.Operation {
	t.Helper()
	op, err := e.k.Begin(context.Background(), "retail")
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func validate(op *kernel.Operation, buyer string) (kernel.Decision, error) {
	return order.Validate.Call(op, extensions.ValidateRequest{BizCode: "retail", Buyer: extensions.Buyer{ID: buyer},
		Lines: []extensions.Line{{SKU: "s", Quantity: 1, UnitPrice: 100}}})
}

func (e *env) state(t *testing.T) kernel.BizpackState {
	t.Helper()
	for _, s := range e.h.States() {
		if s.Name == "chaos" {
			return s
		}
	}
	t.Fatal("no state for bizpack chaos")
	return kernel.BizpackState{}
}

// wantAllowedBy asserts that the bizpack of the given version answered.
func wantAllowedBy(t *testing.T, op *kernel.Operation, version string) {
	t.Helper()
	d, err := validate(op, "alice")
	if err != nil || !d.Allowed {
		t.Fatalf("validate = %+v, %v; want allowed", d, err)
	}
	for _, r := range op.Trace() {
		if r.Layer == kernel.LayerBizpack && r.Point == extensions.OrderValidate {
			if r.Version != version {
				t.Fatalf("answered by version %s, want %s", r.Version, version)
			}
			return
		}
	}
	t.Fatalf("the bizpack did not answer: trace %+v", op.Trace())
}

func wantFailure(t *testing.T, err error, outcome kernel.Outcome) *kernel.ExtensionError {
	t.Helper()
	var ee *kernel.ExtensionError
	if !errors.As(err, &ee) || ee.Outcome != outcome {
		t.Fatalf("err = %v, want an extension error with outcome %s", err, outcome)
	}
	return ee
}

func TestPanicIsContained(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	_, err := validate(e.begin(t), "panic")
	wantFailure(t, err, kernel.OutcomePanic)
	wantAllowedBy(t, e.begin(t), "1.0.0")
	if got := e.h.Pids(); !slices.Equal(got, []int{pid}) || !alive(pid) {
		t.Fatalf("pids %v after a panic, want the same process %d still serving", got, pid)
	}
}

func TestHangIsCutAtTheDeadlineAndOpensOnlyThatPointsBreaker(t *testing.T) {
	o := fast
	o.BreakerCooldown, o.MaxBreakerCooldown = time.Hour, time.Hour
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	for range 3 {
		_, err := validate(e.begin(t), "hang")
		wantFailure(t, err, kernel.OutcomeTimeout)
	}
	// The implementation hangs, the process does not: it answers its
	// health check, so it is not restarted; order.validate's breaker is
	// open and the bizpack's other points still answer.
	_, err := validate(e.begin(t), "alice")
	if ee := wantFailure(t, err, kernel.OutcomeError); !errors.Is(ee, bizpackhost.ErrBreakerOpen) {
		t.Fatalf("cause %v, want the open breaker", ee.Cause)
	}
	wantPricedBy(t, e, "1.0.0")
	time.Sleep(300 * time.Millisecond) // time for a health check to act if it wrongly would
	if st := e.state(t); st.Restarts != 0 || st.Pid != pid || pointBreaker(st, extensions.OrderValidate) != "open" ||
		pointBreaker(st, extensions.PricingAdjust) != "closed" {
		t.Fatalf("state %+v, want the same process, validate's breaker open, adjust's closed", st)
	}
}

// wantPricedBy asserts that pricing.adjust was answered by the bizpack.
func wantPricedBy(t *testing.T, e *env, version string) {
	t.Helper()
	got, err := pricing.Adjust.Call(e.begin(t), extensions.PriceSheet{BizCode: "retail", Currency: "CNY",
		Lines: []extensions.Line{{SKU: "s", Quantity: 1, UnitPrice: 1000}}})
	if err != nil || !slices.Contains(got.Adjustments, "chaos:"+version) {
		t.Fatalf("adjust = %+v, %v; want the bizpack %s's adjustment", got, err, version)
	}
}

func pointBreaker(st kernel.BizpackState, point string) string {
	for _, p := range st.Points {
		if p.Point == point {
			return p.Breaker
		}
	}
	return ""
}

func TestStoppedBizpackIsRestartedOnceItsHealthCheckFails(t *testing.T) {
	o := fast
	o.HealthTimeout, o.KillGrace = 300*time.Millisecond, 300*time.Millisecond
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	stopProcess(t, pid)
	_, err := validate(e.begin(t), "alice")
	wantFailure(t, err, kernel.OutcomeTimeout)
	// One deadline miss asks for a health check; the stopped process does
	// not answer it and is replaced.
	eventually(t, "stopped process replaced", func() bool {
		st := e.state(t)
		return st.Status == bizpackhost.StatusRunning && st.Pid != 0 && st.Pid != pid && !alive(pid)
	})
	eventually(t, "calls answered again", func() bool {
		d, err := validate(e.begin(t), "alice")
		return err == nil && d.Allowed
	})
}

func TestDeadlineMissesOnABusyHostRestartNothing(t *testing.T) {
	o := fast
	o.HealthTimeout = 5 * time.Second
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	// CPU starvation, made certain: the process is not scheduled for a
	// while (SIGSTOP), so every call misses its 50ms deadline, then it runs
	// again (SIGCONT) well within its health check's time limit.
	stopProcess(t, pid)
	for range 5 {
		_, err := validate(e.begin(t), "alice")
		if err == nil {
			t.Fatal("a stopped process answered")
		}
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, "calls answered again", func() bool {
		d, err := validate(e.begin(t), "alice")
		return err == nil && d.Allowed
	})
	wantPricedBy(t, e, "1.0.0")
	if st := e.state(t); st.Restarts != 0 || st.Pid != pid {
		t.Fatalf("state %+v: a slow but healthy process was restarted", st)
	}
}

func TestAFailingFallbackPointLeavesTheOtherPointsAlone(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	route := func() (extensions.Route, error) {
		return stock.RouteWarehouse.Call(e.begin(t), extensions.RouteRequest{BizCode: "retail", Region: "fail",
			Lines:     []extensions.Line{{SKU: "s", Quantity: 1}},
			Locations: []extensions.LocationStock{{Location: "wh-1", Sellable: map[string]int64{"s": 5}}}})
	}
	for range 10 {
		// fallback: the platform default answers each time.
		if r, err := route(); err != nil || r.Location != "wh-1" {
			t.Fatalf("route = %+v, %v; want the platform default's wh-1", r, err)
		}
	}
	st := e.state(t)
	if pointBreaker(st, extensions.StockRouteWarehouse) != "open" {
		t.Fatalf("route's breaker %q after 10 failures, want open", pointBreaker(st, extensions.StockRouteWarehouse))
	}
	// The fail points of the same bizpack are untouched.
	wantAllowedBy(t, e.begin(t), "1.0.0")
	wantPricedBy(t, e, "1.0.0")
	if st := e.state(t); st.Restarts != 0 || st.Pid != pid || pointBreaker(st, extensions.OrderValidate) != "closed" {
		t.Fatalf("state %+v: want the same process and validate's breaker closed", st)
	}
}

func TestCancellationReachesTheBizpack(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	ctx, cancel := context.WithCancel(context.Background())
	op, err := e.k.Begin(ctx, "retail")
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	// pricing.adjust has a 50ms deadline; the cancellation comes first.
	_, err = pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: "retail", Currency: "CNY", Buyer: extensions.Buyer{ID: "hang"},
		Lines: []extensions.Line{{SKU: "s", Quantity: 1, UnitPrice: 100}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
}

func TestExitMidCallIsRestarted(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	pid := e.h.Pids()[0]
	_, err := validate(e.begin(t), "exit")
	wantFailure(t, err, kernel.OutcomeError)
	eventually(t, "dead process replaced", func() bool {
		st := e.state(t)
		return st.Status == bizpackhost.StatusRunning && st.Pid != pid && st.Restarts == 1 && !alive(pid)
	})
	wantAllowedBy(t, e.begin(t), "1.0.0")
}

func TestCrashLoopIsContained(t *testing.T) {
	e := setup(t, fast)
	crash := filepath.Join(t.TempDir(), "crash")
	s := v1()
	s.Args = []string{"--crash-file", crash}
	e.load(t, s)
	e.bind(t)
	if err := os.WriteFile(crash, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _ = validate(e.begin(t), "exit")
	eventually(t, "several failed restarts", func() bool {
		st := e.state(t)
		return st.Restarts >= 3 && st.Status == bizpackhost.StatusRestarting
	})
	// While it crash-loops: a "fail" point fails at once with a clear cause…
	_, err := validate(e.begin(t), "alice")
	if ee := wantFailure(t, err, kernel.OutcomeError); !errors.Is(ee, bizpackhost.ErrNotRunning) && !errors.Is(ee, bizpackhost.ErrBreakerOpen) {
		t.Fatalf("cause %v, want not running or breaker open", ee.Cause)
	}
	// …and a "fallback" point is answered by the layer below.
	r, err := stock.RouteWarehouse.Call(e.begin(t), extensions.RouteRequest{BizCode: "retail",
		Lines:     []extensions.Line{{SKU: "s", Quantity: 1}},
		Locations: []extensions.LocationStock{{Location: "wh-1", Sellable: map[string]int64{"s": 5}}}})
	if err != nil || r.Location != "wh-1" {
		t.Fatalf("route while crash-looping = %+v, %v; want the platform default's wh-1", r, err)
	}
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	eventually(t, "recovered after the crash loop", func() bool {
		d, err := validate(e.begin(t), "alice")
		return err == nil && d.Allowed
	})
}

func TestBreakerOpensAfterRepeatedFailures(t *testing.T) {
	o := fast
	o.BreakerCooldown, o.MaxBreakerCooldown = time.Hour, time.Hour // stays open for the test
	e := setup(t, o)
	reg := prometheus.NewRegistry()
	if err := e.h.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	e.load(t, v1())
	e.bind(t)
	if got := breakerGauge(t, reg); got != "chaos=0" {
		t.Fatalf("tmf_bizpack_breaker_open before the failures: %s", got)
	}
	for range 3 {
		_, err := validate(e.begin(t), "fail")
		wantFailure(t, err, kernel.OutcomeError)
	}
	_, err := validate(e.begin(t), "alice")
	if ee := wantFailure(t, err, kernel.OutcomeError); !errors.Is(ee, bizpackhost.ErrBreakerOpen) {
		t.Fatalf("cause %v, want the open breaker", ee.Cause)
	}
	// A failing implementation is not a failing process: no restart.
	if st := e.state(t); st.Breaker != "open" || st.Restarts != 0 || st.Status != bizpackhost.StatusRunning {
		t.Fatalf("state %+v, want breaker open, no restart", st)
	}
	if got := breakerGauge(t, reg); got != "chaos=1" {
		t.Fatalf("tmf_bizpack_breaker_open with the breaker open: %s", got)
	}
}

// breakerGauge is tmf_bizpack_breaker_open as "bizpack=value" pairs.
func breakerGauge(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "tmf_bizpack_breaker_open" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s=%g", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
		}
	}
	return strings.Join(out, ",")
}

func TestTamperedBinaryIsRefused(t *testing.T) {
	e := setup(t, fast)
	tampered := filepath.Join(t.TempDir(), "chaos")
	b, err := os.ReadFile(bins.v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	s := v1()
	s.Path = tampered
	if _, err := e.h.Load(context.Background(), s); !errors.Is(err, plugin.ErrChecksum) {
		t.Fatalf("Load of a tampered binary: %v, want ErrChecksum", err)
	}
	if pids, bps := e.h.Pids(), e.k.Bizpacks(); len(pids) != 0 || len(bps) != 0 {
		t.Fatalf("after a refused load: pids %v, bizpacks %v", pids, bps)
	}

	// A running bizpack whose binary is replaced under it is restarted
	// from the host's checked copy: the file at its path no longer
	// matters, and a new load of it is refused.
	if err := os.WriteFile(tampered, b, 0o755); err != nil {
		t.Fatal(err)
	}
	e.load(t, s)
	e.bind(t)
	if err := os.WriteFile(tampered+".new", append(b, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tampered+".new", tampered); err != nil {
		t.Fatal(err)
	}
	pid := e.h.Pids()[0]
	_, _ = validate(e.begin(t), "exit")
	eventually(t, "restarted from the checked copy", func() bool {
		st := e.state(t)
		return st.Status == bizpackhost.StatusRunning && st.Pid != 0 && st.Pid != pid
	})
	wantAllowedBy(t, e.begin(t), "1.0.0")
	if _, err := e.h.Reload(context.Background(), "chaos", "", ""); !errors.Is(err, plugin.ErrChecksum) {
		t.Fatalf("Reload of the replaced binary: %v, want ErrChecksum", err)
	}
}

func TestBinarySwappedBetweenCheckAndExecNeverRuns(t *testing.T) {
	e := setup(t, fast)
	dir := t.TempDir()
	path := filepath.Join(dir, "chaos")
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	for src, dst := range map[string]string{bins.v1: good, bins.v2: bad} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Swap the file at path between the checked binary (v1) and another
	// one (v2) every 2ms while the host loads it again and again.
	if err := os.Link(good, path); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src := good
			if i%2 == 1 {
				src = bad
			}
			tmp := path + ".tmp"
			_ = os.Remove(tmp)
			if os.Link(src, tmp) == nil {
				_ = os.Rename(tmp, path)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	defer func() { close(stop); <-swapped }()
	s := v1()
	s.Path = path
	loaded := 0
	for range 12 {
		v, err := e.h.Load(context.Background(), s)
		switch {
		case err == nil && v == "1.0.0":
			loaded++
		case err == nil:
			t.Fatalf("the host ran version %s, a binary whose checksum it never checked", v)
		case !errors.Is(err, plugin.ErrChecksum):
			t.Fatalf("Load: %v", err)
		}
	}
	t.Logf("%d of 12 loads found the checked binary, the others were refused", loaded)
}

func TestHostEnvironmentIsNotPassed(t *testing.T) {
	t.Setenv("TMF_TEST_SECRET", "hunter2")
	e := setup(t, fast)
	s := v1()
	s.Env = map[string]string{"CHAOS_MODE": "on"}
	e.load(t, s)
	e.bind(t)
	d, err := validate(e.begin(t), "env")
	if err != nil || d.Allowed || d.Code != "env" {
		t.Fatalf("validate = %+v, %v", d, err)
	}
	seen := strings.Split(d.Reason, "\n")
	if !slices.Contains(seen, "CHAOS_MODE=on") {
		t.Fatalf("the configured variable is missing from the bizpack's environment: %q", seen)
	}
	for _, kv := range os.Environ() {
		if slices.Contains(seen, kv) {
			t.Errorf("the server's %q reached the bizpack", kv)
		}
	}
	for _, kv := range seen {
		if strings.Contains(kv, "hunter2") {
			t.Errorf("secret reached the bizpack: %q", kv)
		}
	}
}

func TestNoOrphanWhenTheServerIsKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TMF_CHAOS_HOST=1", "TMF_CHAOS_BIN="+bins.v1, "TMF_CHAOS_SUM="+bins.sumV1)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if f := strings.Fields(line); len(f) != 2 || f[0] != "pid" {
		t.Fatalf("child host said %q", line)
	} else if pid = atoi(f[1]); !alive(pid) {
		t.Fatalf("bizpack %d not running under the child host", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "bizpack gone after its server was killed", func() bool { return !alive(pid) })
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestHotReloadAndRollback(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	inFlight := e.begin(t)
	wantAllowedBy(t, inFlight, "1.0.0")

	e.load(t, v2())
	wantAllowedBy(t, e.begin(t), "2.0.0")
	wantAllowedBy(t, inFlight, "1.0.0") // begun on v1, finishes on v1
	if st := e.state(t); st.Version != "2.0.0" || st.Standby != "1.0.0" {
		t.Fatalf("state %+v, want 2.0.0 with 1.0.0 on standby", st)
	}

	// A new version that does not come up healthy replaces nothing.
	crash := filepath.Join(t.TempDir(), "crash")
	if err := os.WriteFile(crash, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := v1()
	broken.Args = []string{"--crash-file", crash}
	if _, err := e.h.Load(context.Background(), broken); err == nil {
		t.Fatal("a bizpack that exits at start was loaded")
	}
	wantAllowedBy(t, e.begin(t), "2.0.0")

	if v, err := e.h.Rollback("chaos"); err != nil || v != "1.0.0" {
		t.Fatalf("Rollback = %q, %v", v, err)
	}
	wantAllowedBy(t, e.begin(t), "1.0.0")
	if v, err := e.h.Rollback("chaos"); err != nil || v != "2.0.0" {
		t.Fatalf("second Rollback = %q, %v", v, err)
	}
	wantAllowedBy(t, e.begin(t), "2.0.0")
}

func TestBindingOutsideTheManifestIdentitiesIsRefused(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	_, err := e.k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "b2b", Bizpacks: []kernel.BizpackRef{{Name: "chaos"}}}}})
	var ce *kernel.ConfigError
	if !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p kernel.Problem) bool { return p.Kind == "bizpack_identity" }) {
		t.Fatalf("Apply = %v, want a bizpack_identity problem", err)
	}
}

func TestPrefetchSendsAPhaseInOneRoundTrip(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	op := e.begin(t)
	vreq := extensions.ValidateRequest{BizCode: "retail", Buyer: extensions.Buyer{ID: "alice"},
		Lines: []extensions.Line{{SKU: "s", Quantity: 1}}}
	sheet := extensions.PriceSheet{BizCode: "retail", Currency: "CNY", Lines: []extensions.Line{{SKU: "s", Quantity: 2, UnitPrice: 1000}}}
	before := e.state(t).RoundTrips
	op.Prefetch(order.Validate.Ahead(vreq), pricing.Adjust.Ahead(sheet))
	if d, err := order.Validate.Call(op, vreq); err != nil || !d.Allowed {
		t.Fatalf("validate = %+v, %v", d, err)
	}
	got, err := pricing.Adjust.Call(op, sheet)
	if err != nil || got.Lines[0].UnitPrice != 900 {
		t.Fatalf("adjust = %+v, %v", got, err)
	}
	if n := e.state(t).RoundTrips - before; n != 1 {
		t.Fatalf("%d round trips for two prefetched calls, want 1", n)
	}
	// A request that changed since the prefetch is sent again.
	sheet.Lines[0].Quantity = 3
	if _, err := pricing.Adjust.Call(op, sheet); err != nil {
		t.Fatal(err)
	}
	if n := e.state(t).RoundTrips - before; n != 2 {
		t.Fatalf("%d round trips, want 2", n)
	}
}

func TestStartAtBootOrOnDemand(t *testing.T) {
	e := setup(t, fast)
	demand := v1()
	if err := e.h.Configure(context.Background(), []bizpackhost.Spec{demand}); err != nil {
		t.Fatal(err)
	}
	if pids := e.h.Pids(); len(pids) != 0 {
		t.Fatalf("an on-demand bizpack started before anything bound it: %v", pids)
	}
	// Not started, but listed: an operator can bind it.
	if st := e.h.States(); len(st) != 1 || st[0].Name != "chaos" || st[0].Status != bizpackhost.StatusIdle {
		t.Fatalf("states of an idle bizpack: %+v", st)
	}
	cfg := kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{{Code: "retail", Bizpacks: []kernel.BizpackRef{{Name: "chaos"}}}}}
	if err := e.h.Ensure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	wantAllowedBy(t, e.begin(t), "1.0.0")
	if st := e.h.States(); len(st) != 1 || st[0].Status != bizpackhost.StatusRunning || st[0].Version != "1.0.0" {
		t.Fatalf("states once bound: %+v", st)
	}

	boot := setup(t, fast)
	s := v2()
	s.Start = "boot"
	if err := boot.h.Configure(context.Background(), []bizpackhost.Spec{s}); err != nil {
		t.Fatal(err)
	}
	if pids := boot.h.Pids(); len(pids) != 1 {
		t.Fatalf("a boot bizpack is not running after Configure: %v", pids)
	}
	bad := v1()
	bad.SHA256 = "abc"
	if err := boot.h.Configure(context.Background(), []bizpackhost.Spec{bad}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("Configure with a bad checksum: %v", err)
	}
}

// spawned starts the chaos bizpack with a child that holds its stderr and
// returns the spec and a function that reads the child's pid.
func spawned(t *testing.T) (bizpackhost.Spec, func() int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "child.pid")
	s := v1()
	s.Args = []string{"--spawn-file", file}
	s.ReadWrite = []string{filepath.Dir(file)} // Landlock: where it reports
	return s, func() int {
		t.Helper()
		var pid int
		eventually(t, "the bizpack's child started", func() bool {
			b, err := os.ReadFile(file)
			pid = atoi(strings.TrimSpace(string(b)))
			return err == nil && pid > 0
		})
		return pid
	}
}

// within fails the test if f does not return within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); f() }()
	select {
	case <-done:
		t.Logf("%s took %s", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(d):
		t.Fatalf("%s still not done after %s", what, d)
	}
}

func TestStopIsBoundedForAStoppedBizpack(t *testing.T) {
	o := fast
	o.KillGrace = 500 * time.Millisecond
	e := setup(t, o)
	e.load(t, v1())
	pid := e.h.Pids()[0]
	stopProcess(t, pid)
	// go-plugin's Kill would wait forever for the stopped process to
	// answer its Shutdown call.
	within(t, 5*time.Second, "Close with a SIGSTOPped bizpack", e.h.Close)
	eventually(t, "the stopped bizpack killed", func() bool { return !alive(pid) })
}

func TestExitIsSeenWhileAChildHoldsStderr(t *testing.T) {
	e := setup(t, fast)
	s, childPid := spawned(t)
	e.load(t, s)
	e.bind(t)
	pid, child := e.h.Pids()[0], childPid()
	_, err := validate(e.begin(t), "exit")
	wantFailure(t, err, kernel.OutcomeError)
	// The exit is seen although the child keeps the stderr pipe open, and
	// the restart kills the child with its bizpack's process group.
	eventually(t, "exited bizpack replaced", func() bool {
		st := e.state(t)
		return st.Status == bizpackhost.StatusRunning && st.Pid != 0 && st.Pid != pid && st.Restarts == 1
	})
	eventually(t, "the child of the exited bizpack killed", func() bool { return !alive(child) })
	wantAllowedBy(t, e.begin(t), "1.0.0")
}

func TestChildrenDieWithTheirBizpackOnClose(t *testing.T) {
	e := setup(t, fast)
	s, childPid := spawned(t)
	e.load(t, s)
	child := childPid()
	within(t, 10*time.Second, "Close", e.h.Close)
	eventually(t, "the bizpack's child killed on Close", func() bool { return !alive(child) })
}

func TestOrphansOfAKilledHostAreEndedByTheNext(t *testing.T) {
	runDir := t.TempDir()
	spawnFile := filepath.Join(t.TempDir(), "child.pid")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TMF_CHAOS_HOST=1", "TMF_CHAOS_BIN="+bins.v1, "TMF_CHAOS_SUM="+bins.sumV1,
		"TMF_CHAOS_RUNDIR="+runDir, "TMF_CHAOS_SPAWN="+spawnFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "pid ") {
		t.Fatalf("child host said %q, %v", line, err)
	}
	pid := atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	b, err := os.ReadFile(spawnFile)
	if err != nil {
		t.Fatal(err)
	}
	child := atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	// A decoy in no recorded group must survive the reaping.
	decoy := exec.Command("sleep", "60")
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = decoy.Process.Kill(); _ = decoy.Wait() })

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "bizpack gone with its server", func() bool { return !alive(pid) })
	if !alive(child) {
		t.Fatalf("the bizpack's child %d died with the host: nothing left to reap, the test proves nothing", child)
	}
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	next := bizpackhost.New(k, bizpackhost.Options{RunDir: runDir})
	defer next.Close()
	eventually(t, "the orphan ended by the next host", func() bool { return !alive(child) })
	if !alive(decoy.Process.Pid) {
		t.Fatal("the next host killed a process that was not its predecessor's")
	}
	if left, _ := filepath.Glob(filepath.Join(runDir, "*.pgrp")); len(left) != 0 {
		t.Fatalf("records left after reaping: %v", left)
	}
}

func TestHugeTextFromABizpackIsCut(t *testing.T) {
	o := fast
	o.BreakerFailures = 1000 // a 1 MB answer may miss its 50ms deadline on a busy machine: try again
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	limit := kernel.MaxText + 64 // the cut text and its note
	var op *kernel.Operation
	var ee *kernel.ExtensionError
	eventually(t, "the 1 MB error answered in time", func() bool {
		op = e.begin(t)
		_, err := validate(op, "big")
		return errors.As(err, &ee) && ee.Outcome == kernel.OutcomeError
	})
	if n := len(ee.Error()); n > limit+200 {
		t.Fatalf("the error of a 1 MB message is %d bytes", n)
	}
	for _, r := range op.Trace() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > limit+512 {
			t.Fatalf("a trace record of %d bytes", len(b))
		}
	}
	var d kernel.Decision
	eventually(t, "the 1 MB veto answered in time", func() bool {
		var err error
		d, err = validate(e.begin(t), "bigdeny")
		return err == nil && !d.Allowed
	})
	if len(d.Reason) > limit || len(d.Code) > limit || !strings.Contains(d.Reason, "bytes cut") {
		t.Fatalf("a 1 MB veto kept %d bytes of reason and %d of code", len(d.Reason), len(d.Code))
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBizpackLogIsCutAndRateLimited(t *testing.T) {
	var logs lockedBuffer
	o := fast
	o.LogRate = 10
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	d, err := validate(e.begin(t), "spam")
	if err != nil || !d.Allowed {
		t.Fatalf("validate = %+v, %v", d, err)
	}
	// 2000 lines of 4 KiB (8 MB) were written to stderr.
	eventually(t, "dropped lines counted", func() bool { return e.state(t).LogLinesDropped > 1900 })
	lines := strings.Count(logs.String(), "msg=\"bizpack log\"")
	if lines == 0 || lines > 40 {
		t.Fatalf("%d bizpack log lines reached the host's log, want 1..40 (10/s, burst 20)", lines)
	}
	if n := len(logs.String()); n > 40*(kernel.MaxText+512) {
		t.Fatalf("%d bytes of bizpack log reached the host's log", n)
	}
}

func TestAbsurdAmountsAreTheBizpacksFailure(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	for _, c := range []struct {
		buyer    string
		quantity int64
	}{{"huge", 1}, {"dear", 1000}} {
		t.Run(c.buyer, func(t *testing.T) {
			op := e.begin(t)
			got, err := pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: "retail", Currency: "CNY", Buyer: extensions.Buyer{ID: c.buyer},
				Lines: []extensions.Line{{SKU: "s", Quantity: c.quantity, UnitPrice: 1000}}})
			ee := wantFailure(t, err, kernel.OutcomeError) // pricing.adjust fails by policy
			var ae *kernel.AmountError
			if !errors.As(ee, &ae) {
				t.Fatalf("cause %v (answer %+v), want an amount out of bounds", ee.Cause, got)
			}
			found := false
			for _, r := range op.Trace() {
				if r.Layer == kernel.LayerBizpack && r.Point == extensions.PricingAdjust {
					found = r.Outcome == kernel.OutcomeError && errors.As(r.Err, &ae)
				}
			}
			if !found {
				t.Fatalf("the refused answer is not in the trace as the bizpack's failure: %+v", op.Trace())
			}
		})
	}
	wantPricedBy(t, e, "1.0.0") // sane answers still go through
}

func TestListingNeverWaitsBehindASlowReload(t *testing.T) {
	e := setup(t, fast)
	e.load(t, v1())
	slow := v2()
	slow.Args = []string{"--slow-start", "3s"}
	loaded := make(chan error, 1)
	go func() { _, err := e.h.Load(context.Background(), slow); loaded <- err }()
	time.Sleep(300 * time.Millisecond) // the reload is under way
	within(t, time.Second, "States during a slow reload", func() { _ = e.h.States() })
	within(t, time.Second, "Pids during a slow reload", func() { _ = e.h.Pids() })
	if st := e.state(t); st.Version != "1.0.0" || st.Status != bizpackhost.StatusRunning {
		t.Fatalf("state during the reload %+v, want 1.0.0 running", st)
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if st := e.state(t); st.Version != "2.0.0" {
		t.Fatalf("state after the reload %+v, want 2.0.0", st)
	}
}

// copyExecutable copies the file at src into dir, mode 0755.
func copyExecutable(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// openDir is a temporary directory every user may read and write.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTheHostsEnvironmentIsNotReadableThroughProc(t *testing.T) {
	dir := openDir(t)
	host, chaos := copyExecutable(t, os.Args[0], dir), copyExecutable(t, bins.v1, dir)
	snoop := func(harden, landlock bool) string {
		t.Helper()
		file := filepath.Join(dir, fmt.Sprintf("snoop-%v-%v", harden, landlock))
		// A secret on the host's command line (which tmfd never needs:
		// --admin-token-file, --db-file) and in its environment.
		cmd := exec.Command(host, "-test.run=^$", "hunter2-on-the-command-line")
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), "TMF_CHAOS_HOST=1", "TMF_CHAOS_BIN="+chaos, "TMF_CHAOS_SUM="+bins.sumV1,
			"TMF_CHAOS_SNOOP="+file, "TMF_TEST_SECRET=hunter2")
		if harden {
			cmd.Env = append(cmd.Env, "TMF_CHAOS_HARDEN=1")
		}
		if !landlock {
			cmd.Env = append(cmd.Env, "TMF_CHAOS_NOLANDLOCK=1")
		}
		// Host and bizpack of the same user, as a non-root server runs
		// them: as root, both switch to nobody (root reads anything).
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.HasPrefix(line, "pid ") {
			t.Fatalf("child host said %q, %v", line, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := snoop(false, false); !strings.Contains(got, "SECRET") || !strings.Contains(got, "cmdline SECRET") {
		t.Fatalf("without Harden and Landlock the bizpack could not read its host's environment (%q): the test proves nothing", got)
	}
	if got := snoop(true, false); !strings.HasPrefix(got, "denied") {
		t.Fatalf("a bizpack of a hardened host: %q, want its environment denied", got)
	}
	if !landlockFS() {
		t.Log("no Landlock here: the case of Landlock alone is not run")
		return
	}
	if got := snoop(false, true); !strings.HasPrefix(got, "denied") || !strings.Contains(got, "cmdline denied") {
		t.Fatalf("a Landlocked bizpack of a host that is not hardened: %q, want its environment and command line denied", got)
	}
}

func TestBizpacksRunAsTheConfiguredUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running bizpacks as another user needs a root host; a non-root host runs them as itself")
	}
	o := fast
	o.RunAs = &bizpackhost.User{UID: 65534, GID: 65534}
	e := setup(t, o)
	file := filepath.Join(openDir(t), "snoop")
	s := v1()
	s.Dir = "/"
	s.Args = []string{"--snoop-file", file}
	s.ReadWrite = []string{filepath.Dir(file)}
	e.load(t, s)
	e.bind(t)
	wantAllowedBy(t, e.begin(t), "1.0.0")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.HasSuffix(got, "uid 65534") || !strings.HasPrefix(got, "denied") {
		t.Fatalf("bizpack says %q, want uid 65534 and the host's environment denied", got)
	}
}

func TestLimitsAreInForceWhenTheBizpackStarts(t *testing.T) {
	o := fast
	o.Limits = bizpackhost.Limits{OpenFiles: 200, AddressSpace: 3 << 30, Nice: 7}
	e := setup(t, o)
	file := filepath.Join(openDir(t), "limits")
	s := v1()
	s.Args = []string{"--limits-file", file}
	s.ReadWrite = []string{filepath.Dir(file)}
	e.load(t, s)
	e.bind(t)
	wantAllowedBy(t, e.begin(t), "1.0.0")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`Max open files\s+200\s+200\s`, `Max address space\s+3221225472\s+3221225472\s`, `nice 7 <nil>`, "env \n"} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("the bizpack's limits at start lack %q:\n%s", want, got)
		}
	}
	// The process group, the pid and the supervision are the bizpack's
	// own: the shim is gone once it has executed the bizpack.
	pid := e.h.Pids()[0]
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !strings.Contains(string(cmd), "--limits-file") {
		t.Fatalf("process %d runs %q, want the bizpack", pid, cmd)
	}
}

func TestResourceLimitsHold(t *testing.T) {
	o := fast
	o.Limits = bizpackhost.Limits{OpenFiles: 64}
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	d, err := validate(e.begin(t), "fds")
	if err != nil || d.Allowed || d.Code != "fds" {
		t.Fatalf("validate = %+v, %v", d, err)
	}
	if !strings.Contains(d.Reason, "too many open files") {
		t.Fatalf("opening 100 files under a limit of 64: %q", d.Reason)
	}
}
