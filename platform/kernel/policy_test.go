package kernel

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
)

// failure is one way an implementation can fail.
type failure struct {
	name    string
	outcome Outcome
	// wrap turns a working implementation into a failing one.
	wrap func(Func[string, string]) Func[string, string]
	// isolated runs the failing implementation as a bizpack's would: only
	// those are held to the point's deadline.
	isolated bool
}

const policyDeadline = 20 * time.Millisecond

var failures = []failure{
	{"error", OutcomeError, func(Func[string, string]) Func[string, string] {
		return func(context.Context, string) (string, error) { return "", errors.New("boom") }
	}, false},
	{"panic", OutcomePanic, func(Func[string, string]) Func[string, string] {
		return func(context.Context, string) (string, error) { panic("boom") }
	}, false},
	{"late", OutcomeTimeout, func(fn Func[string, string]) Func[string, string] {
		return func(ctx context.Context, in string) (string, error) {
			time.Sleep(policyDeadline + 30*time.Millisecond) // answers, but after the deadline
			return fn(ctx, in)
		}
	}, true},
}

func verdictOf(fn Func[string, string]) Func[string, extensions.Verdict] {
	return func(ctx context.Context, in string) (extensions.Verdict, error) {
		if _, err := fn(ctx, in); err != nil {
			return extensions.Verdict{}, err
		}
		return extensions.Allow(), nil
	}
}

// policyFixture declares one point per reducer with the given policy. The
// product layer holds "bad" (priority 20, failing) above "good" (priority
// 10); the default is "d".
func policyFixture(t *testing.T, policy Policy, fl failure) (*fixture, *FirstPoint[string, string], *PipelinePoint[string], *CollectPoint[string, string], *AllPassPoint[string], *atomic.Int32) {
	o := Options{Policy: policy, Deadline: policyDeadline}
	first := DeclareFirst[string, string]("policy.first", o)
	pipeline := DeclarePipeline[string]("policy.pipeline", o)
	collect := DeclareCollect[string, string]("policy.collect", o)
	allpass := DeclareAllPass[string]("policy.allpass", o)
	f := newFixture(t, first, pipeline, collect, allpass)
	goodGateCalls := &atomic.Int32{}
	goodGate := func(context.Context, string) (extensions.Verdict, error) {
		goodGateCalls.Add(1)
		return extensions.Allow(), nil
	}
	f.must(f.reg.SetDefault(first.Impl("first.d", answer("d")), pipeline.Impl("pipeline.d", appendName("d")),
		collect.Impl("collect.d", answer("d")), allpass.Impl("allpass.d", allow)))
	bad := func(im Implementation) Implementation {
		if fl.isolated {
			return im.Isolate()
		}
		return im
	}
	f.must(f.reg.Register(
		first.Impl("first.good", answer("good")), bad(first.Impl("first.bad", fl.wrap(answer("bad")))),
		pipeline.Impl("pipeline.good", appendName("good")), bad(pipeline.Impl("pipeline.bad", fl.wrap(appendName("bad")))),
		collect.Impl("collect.good", answer("good")), bad(collect.Impl("collect.bad", fl.wrap(answer("bad")))),
		allpass.Impl("allpass.good", goodGate), bad(allpass.Impl("allpass.bad", verdictOf(fl.wrap(answer("bad")))))))
	f.must(f.reg.AddProduct(product("good", 10, bind("policy.first", "first.good"), bind("policy.pipeline", "pipeline.good"),
		bind("policy.collect", "collect.good"), bind("policy.allpass", "allpass.good"))))
	f.must(f.reg.AddProduct(product("bad", 20, bind("policy.first", "first.bad"), bind("policy.pipeline", "pipeline.bad"),
		bind("policy.collect", "collect.bad"), bind("policy.allpass", "allpass.bad"))))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "shop", Products: products("good", "bad")}}})
	return f, first, pipeline, collect, allpass, goodGateCalls
}

func TestFailurePolicies(t *testing.T) {
	t.Parallel()
	type want struct {
		first, pipeline, collect string // "error" means the call fails
		goodGateRuns             bool   // all-pass: whether "good" ran after "bad" failed
	}
	for _, tc := range []struct {
		policy Policy
		want   want
	}{
		{Fail, want{first: "error", pipeline: "error", collect: "error"}},
		{Skip, want{first: "good", pipeline: "d,good", collect: "good,d", goodGateRuns: true}},
		{Fallback, want{first: "d", pipeline: "d", collect: "d", goodGateRuns: false}},
	} {
		for _, fl := range failures {
			t.Run(fmt.Sprintf("%s/%s", tc.policy, fl.name), func(t *testing.T) {
				t.Parallel()
				f, first, pipeline, collect, allpass, goodGateCalls := policyFixture(t, tc.policy, fl)
				check := func(point string, got string, err error, want string) {
					t.Helper()
					if want == "error" {
						var ee *ExtensionError
						if !errors.As(err, &ee) || ee.Impl != point+".bad" || ee.Outcome != fl.outcome || ee.Source != "bad" {
							t.Fatalf("%s: want ExtensionError naming %s.bad with outcome %s, got %q, %v", point, point, fl.outcome, got, err)
						}
						return
					}
					if err != nil || got != want {
						t.Fatalf("%s = %q, %v; want %q", point, got, err, want)
					}
				}
				op := f.begin("shop")
				got, err := first.Call(op, "")
				check("first", got, err, tc.want.first)
				got, err = pipeline.Call(op, "")
				check("pipeline", got, err, tc.want.pipeline)
				all, err := collect.Call(op, "")
				check("collect", joinStrings(all), err, tc.want.collect)

				d, err := allpass.Call(op, "")
				if tc.policy == Fail {
					var ee *ExtensionError
					if !errors.As(err, &ee) || ee.Impl != "allpass.bad" {
						t.Fatalf("allpass: %+v, %v", d, err)
					}
				} else if err != nil || !d.Allowed {
					t.Fatalf("allpass: %+v, %v", d, err)
				}
				if ran := goodGateCalls.Load() > 0; ran != tc.want.goodGateRuns {
					t.Fatalf("allpass: good ran = %v, want %v", ran, tc.want.goodGateRuns)
				}
				// Every failure is in the trace and the metrics with its outcome.
				failed := 0
				for _, r := range op.Trace() {
					if r.Source == "bad" {
						if r.Outcome != fl.outcome || r.Err == nil {
							t.Fatalf("trace record %+v", r)
						}
						failed++
					}
				}
				if failed != 4 {
					t.Fatalf("%d failures traced, want 4: %s", failed, traceString(op))
				}
				if n := f.counter("policy.first", "first.bad", fl.outcome.String()); n != 1 {
					t.Fatalf("metric for first.bad/%s = %v", fl.outcome, n)
				}
			})
		}
	}
}

func joinStrings(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// An isolated implementation that never returns costs the caller its
// deadline, not its life: the call comes back with the policy's outcome while
// the implementation is still blocked.
func TestIsolatedImplementationThatHangs(t *testing.T) {
	t.Parallel()
	point := DeclareFirst[string, string]("hang.first", Options{Policy: Fallback, Deadline: 10 * time.Millisecond})
	f := newFixture(t, point)
	release := make(chan struct{})
	sawDeadline := make(chan bool, 1)
	f.must(f.reg.SetDefault(point.Impl("hang.d", answer("d"))))
	f.must(f.reg.PutBizpack(Bizpack{Name: "stuck", Version: "1", Impls: []Implementation{
		point.Impl("stuck.first", func(ctx context.Context, _ string) (string, error) {
			_, has := ctx.Deadline()
			sawDeadline <- has
			<-release // ignores ctx on purpose
			return "stuck", nil
		}).Isolate()}}))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "shop", Bizpacks: []BizpackRef{{Name: "stuck"}}}}})
	op := f.begin("shop")
	got, err := point.Call(op, "")
	close(release)
	if err != nil || got != "d" {
		t.Fatalf("got %q, %v; want the default's answer", got, err)
	}
	if !<-sawDeadline {
		t.Fatal("an isolated implementation must receive a context with the point's deadline")
	}
	if tr := op.Trace(); len(tr) != 2 || tr[0].Outcome != OutcomeTimeout || !errors.Is(tr[0].Err, ErrDeadline) {
		t.Fatalf("trace = %s", traceString(op))
	}
}

func TestIsolatedImplementationPanicsAndCancellation(t *testing.T) {
	t.Parallel()
	point := DeclareFirst[string, string]("iso.first", Options{Policy: Fail, Deadline: time.Second})
	f := newFixture(t, point)
	f.must(f.reg.PutBizpack(Bizpack{Name: "p", Version: "1", Impls: []Implementation{
		point.Impl("p.first", func(ctx context.Context, in string) (string, error) {
			if in == "panic" {
				panic("bizpack bug")
			}
			<-ctx.Done()
			return "", ctx.Err()
		}).Isolate()}}))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "shop", Bizpacks: []BizpackRef{{Name: "p"}}}}})

	_, err := point.Call(f.begin("shop"), "panic")
	var ee *ExtensionError
	var pe *PanicError
	if !errors.As(err, &ee) || ee.Outcome != OutcomePanic || !errors.As(err, &pe) {
		t.Fatalf("panic: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	op, _ := f.k.Begin(ctx, "shop")
	cancel()
	_, err = point.Call(op, "wait")
	if !errors.As(err, &ee) || ee.Outcome != OutcomeError || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// slowRemote is a bizpack out of process that takes longer than any deadline
// and, as a Remote must, gives up when the context it was given expires.
type slowRemote struct{}

func (slowRemote) Invoke(ctx context.Context, calls []RemoteCall) []RemoteResult {
	<-ctx.Done()
	out := make([]RemoteResult, len(calls))
	for i := range out {
		out[i] = RemoteResult{Outcome: OutcomeTimeout, Err: ErrDeadline}
	}
	return out
}

// The point's deadline cuts off bizpacks only. A platform default or a
// product's implementation that a starved CPU makes slower than the deadline
// still answers (a busy machine must not fail a buyer's order), and its time
// is traced; an isolated or remote bizpack that late is cut off.
func TestDeadlineBindsBizpacksOnly(t *testing.T) {
	t.Parallel()
	const deadline = 5 * time.Millisecond
	slow := func(name string) Func[string, string] {
		return func(ctx context.Context, in string) (string, error) {
			time.Sleep(deadline + 25*time.Millisecond)
			return name, nil
		}
	}
	point := DeclareFirst[string, string]("slow.first", Options{Policy: Fail, Deadline: deadline})
	f := newFixture(t, point)
	f.must(f.reg.SetDefault(point.Impl("slow.d", slow("default"))))
	f.must(f.reg.Register(point.Impl("slow.product", slow("product"))))
	f.must(f.reg.AddProduct(product("slowprod", 10, bind("slow.first", "slow.product"))))
	f.must(f.reg.PutBizpack(Bizpack{Name: "iso", Version: "1", Impls: []Implementation{point.Impl("iso.first", slow("iso")).Isolate()}}))
	f.must(f.reg.PutBizpack(Bizpack{Name: "far", Version: "1", Impls: []Implementation{point.Spec().RemoteImpl("far:slow.first", slowRemote{})}}))
	f.must(f.reg.PutBizpack(Bizpack{Name: "direct", Version: "1", Impls: []Implementation{point.Impl("direct.first", slow("direct"))}}))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "plain"},
		{Code: "prod", Products: products("slowprod")},
		{Code: "iso", Bizpacks: []BizpackRef{{Name: "iso"}}},
		{Code: "far", Bizpacks: []BizpackRef{{Name: "far"}}},
		{Code: "direct", Bizpacks: []BizpackRef{{Name: "direct"}}},
	}})
	for _, tc := range []struct {
		code     identity.Code
		want     string // "" means cut off
		wantImpl string
	}{
		{"plain", "default", "slow.d"},
		{"prod", "product", "slow.product"},
		{"iso", "", "iso.first"},
		{"far", "", "far:slow.first"},
		{"direct", "", "direct.first"}, // a bizpack's code, judged after the fact
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			t.Parallel()
			op := f.begin(tc.code)
			got, err := point.Call(op, "")
			tr := op.Trace()
			if len(tr) != 1 || tr[0].Impl != tc.wantImpl {
				t.Fatalf("trace = %s", traceString(op))
			}
			if tc.want == "" {
				var ee *ExtensionError
				if !errors.As(err, &ee) || ee.Outcome != OutcomeTimeout || ee.Code() != CodeExtensionTimeout || tr[0].Outcome != OutcomeTimeout {
					t.Fatalf("a late bizpack: got %q, %v; want an extension_timeout", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("a slow in-process implementation: got %q, %v; want %q", got, err, tc.want)
			}
			if tr[0].Outcome != OutcomeOK || tr[0].Duration <= deadline {
				t.Fatalf("trace = %s; want ok with the time it took", traceString(op))
			}
		})
	}
}
