package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

var (
	other = DeclareFirst[int, int]("test.other", Options{Policy: Fail})
	// versioned answers with the "rev" argument of its binding.
	versioned = pick.Factory("pick.versioned", func(args json.RawMessage) (Func[string, string], error) {
		var a struct {
			Rev int `json:"rev"`
		}
		if err := DecodeArgs(args, &a); err != nil {
			return nil, err
		}
		if a.Rev < 0 {
			return nil, fmt.Errorf("rev must not be negative")
		}
		rev := fmt.Sprint(a.Rev)
		return func(context.Context, string) (string, error) { return rev, nil }, nil
	})
)

func conflictFixture(t *testing.T) *fixture {
	f := newFixture(t, pick, pipe, other)
	f.must(f.reg.SetDefault(pick.Impl("pick.d", answer("d"))))
	f.must(f.reg.Register(pick.Impl("pick.a", answer("a")), pick.Impl("pick.b", answer("b")),
		pipe.Impl("pipe.a", appendName("a")), pipe.Impl("pipe.b", appendName("b")),
		other.Impl("other.a", func(context.Context, int) (int, error) { return 1, nil }), versioned))
	f.must(f.reg.AddProduct(product("alpha", 10, bind("test.pick", "pick.a"), bind("test.pipe", "pipe.a"))))
	f.must(f.reg.AddProduct(product("beta", 10, bind("test.pick", "pick.b"), bind("test.pipe", "pipe.b"))))
	f.must(f.reg.AddProduct(product("gamma", 5, bind("test.pick", "pick.b"))))
	f.must(f.reg.AddProduct(product("ghost-point", 1, bind("test.nowhere", "pick.a"))))
	f.must(f.reg.AddProduct(product("ghost-impl", 1, bind("test.pick", "pick.nobody"))))
	f.must(f.reg.AddProduct(product("mismatch", 1, bind("test.pick", "other.a"))))
	f.must(f.reg.AddProduct(product("bad-args", 1, bindArgs("test.pick", "pick.versioned", map[string]any{"rev": -1}))))
	f.must(f.reg.AddProduct(product("versioned", 1, bindArgs("test.pick", "pick.versioned", map[string]any{"rev": 1}))))
	f.must(f.reg.AddProduct(product("unknown-arg", 1, bindArgs("test.pick", "pick.versioned", map[string]any{"revision": 1}))))
	f.must(f.reg.AddProduct(Product{Name: "bad-graph", LifecyclePatch: &lifecycle.Patch{RemoveEvents: []string{"no_such_event"}}}))
	f.must(f.reg.PutBizpack(Bizpack{Name: "p", Version: "1", Impls: []Implementation{pick.Impl("p.pick", answer("p"))}}))
	f.must(f.reg.PutBizpack(Bizpack{Name: "q", Version: "1", Impls: []Implementation{pick.Impl("q.pick", answer("q"))}}))
	f.start()
	return f
}

func TestConflictsAreReportedAtCompileNamingBothSides(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		identity IdentitySpec
		rules    []identity.Rule
		kind     string
		mentions []string
	}{
		{"two products at one priority on a first point", IdentitySpec{Code: "s", Products: products("alpha", "beta")},
			nil, "conflict", []string{"test.pick", "product alpha binds pick.a", "product beta binds pick.b", "priority 10"}},
		{"two bizpacks at one priority on a first point", IdentitySpec{Code: "s", Bizpacks: []BizpackRef{{Name: "p"}, {Name: "q"}}},
			nil, "conflict", []string{"bizpack p binds p.pick", "bizpack q binds q.pick"}},
		{"product names an unknown point", IdentitySpec{Code: "s", Products: products("ghost-point")},
			nil, "unknown_point", []string{"ghost-point", "test.nowhere"}},
		{"product names an unknown implementation", IdentitySpec{Code: "s", Products: products("ghost-impl")},
			nil, "unknown_impl", []string{"ghost-impl", "pick.nobody"}},
		{"type mismatch", IdentitySpec{Code: "s", Products: products("mismatch")},
			nil, "type_mismatch", []string{"other.a", "test.pick (string → string)", "test.other (int → int)"}},
		{"arguments refused by the factory", IdentitySpec{Code: "s", Products: products("bad-args")},
			nil, "bad_args", []string{"bad-args", "rev must not be negative"}},
		{"unknown argument field", IdentitySpec{Code: "s", Products: products("unknown-arg")},
			nil, "bad_args", []string{"unknown field \"revision\""}},
		{"identity arguments refused by the factory", IdentitySpec{Code: "s",
			Products: []ProductRef{{Name: "versioned", Args: map[string]json.RawMessage{"test.pick": json.RawMessage(`{"rev":-2}`)}}}},
			nil, "bad_args", []string{"versioned", "rev must not be negative"}},
		{"identity arguments at a point the product does not bind", IdentitySpec{Code: "s",
			Products: []ProductRef{{Name: "versioned", Args: map[string]json.RawMessage{"test.pipe": json.RawMessage(`{}`)}}}},
			nil, "bad_args", []string{"identity s", "product versioned", "test.pipe", "binds 0 implementations"}},
		{"unknown product", IdentitySpec{Code: "s", Products: products("nope")},
			nil, "unknown_product", []string{"nope"}},
		{"unknown bizpack", IdentitySpec{Code: "s", Bizpacks: []BizpackRef{{Name: "nope"}}},
			nil, "unknown_bizpack", []string{"nope"}},
		{"lifecycle patch that does not apply", IdentitySpec{Code: "s", Products: products("bad-graph")},
			nil, "lifecycle", []string{"bad-graph", "no_such_event"}},
		{"malformed identity", IdentitySpec{Code: "Bad..Code"},
			nil, "identity", []string{"Bad..Code"}},
		{"rule for an unknown identity", IdentitySpec{Code: "s"},
			[]identity.Rule{{Identity: "t", Channel: "app"}}, "rules", []string{"unknown identity \"t\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := conflictFixture(t)
			_, err := f.k.Apply(Config{Revision: 2, Identities: []IdentitySpec{tc.identity}, Rules: tc.rules})
			ce := asConfig(t, err)
			found := false
			for _, p := range ce.Problems {
				if p.Kind != tc.kind {
					continue
				}
				found = true
				for _, m := range tc.mentions {
					if !strings.Contains(p.Message, m) {
						t.Errorf("problem %q does not mention %q", p.Message, m)
					}
				}
			}
			if !found {
				t.Fatalf("no %s problem in %v", tc.kind, ce.Problems)
			}
			if f.k.Plans().Revision() != 0 {
				t.Fatal("a refused configuration replaced the plans in force")
			}
		})
	}
}

func TestIdentityArgumentsReplaceTheProductsForItsSubtree(t *testing.T) {
	t.Parallel()
	f := conflictFixture(t)
	withRev := func(rev int) []ProductRef {
		return []ProductRef{{Name: "versioned", Args: map[string]json.RawMessage{"test.pick": json.RawMessage(fmt.Sprintf(`{"rev":%d}`, rev))}}}
	}
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "plain", Products: products("versioned")},
		{Code: "shop", Products: withRev(7)},
		{Code: "shop.books"},
		{Code: "shop.music", Products: withRev(9)},
	}})
	for code, want := range map[string]string{"plain": "1", "shop": "7", "shop.books": "7", "shop.music": "9"} {
		if got, err := pick.Call(f.begin(identity.Code(code)), ""); err != nil || got != want {
			t.Errorf("%s: pick = %q, %v; want %q", code, got, err, want)
		}
	}
}

func TestNonFirstPointsAcceptEqualPriorities(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pipe)
	f.must(f.reg.Register(pipe.Impl("pipe.a", appendName("a")), pipe.Impl("pipe.b", appendName("b"))))
	f.must(f.reg.AddProduct(product("alpha", 10, bind("test.pipe", "pipe.a"))))
	f.must(f.reg.AddProduct(product("beta", 10, bind("test.pipe", "pipe.b"))))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "s", Products: products("beta", "alpha")}}})
	// Equal priorities are ordered by product name, deterministically:
	// alpha above beta, so beta transforms first.
	if got, err := pipe.Call(f.begin("s"), ""); err != nil || got != "b,a" {
		t.Fatalf("pipe = %q, %v", got, err)
	}
}

func TestEveryProblemIsReportedAndTheGoodPlanStays(t *testing.T) {
	t.Parallel()
	f := conflictFixture(t)
	good := f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "s", Products: products("alpha", "gamma")}}})
	_, err := f.k.Apply(Config{Revision: 2, Identities: []IdentitySpec{
		{Code: "s", Products: products("alpha", "beta")},
		{Code: "t", Products: products("mismatch")},
		{Code: "u", Bizpacks: []BizpackRef{{Name: "nope"}}},
		{Code: "s"},
	}})
	ce := asConfig(t, err)
	kinds := map[string]bool{}
	for _, p := range ce.Problems {
		kinds[p.Kind] = true
	}
	for _, k := range []string{"conflict", "type_mismatch", "unknown_bizpack", "duplicate"} {
		if !kinds[k] {
			t.Errorf("missing %s problem in %v", k, ce)
		}
	}
	if f.k.Plans() != good {
		t.Fatal("the refused configuration replaced the good plans")
	}
	if got, _ := pick.Call(f.begin("s"), ""); got != "a" {
		t.Fatalf("good plan answers %q", got)
	}
	// The descendant of a conflicting identity inherits the conflict but it
	// is reported once, where it is configured.
	_, err = f.k.Apply(Config{Revision: 3, Identities: []IdentitySpec{
		{Code: "s", Products: products("alpha", "beta")}, {Code: "s.kid"}}})
	if n := len(asConfig(t, err).Problems); n != 1 {
		t.Fatalf("%d problems, want 1: %v", n, err)
	}
}

func TestLifecycleAndSettingsFollowProductsAndInheritance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	virtual := &lifecycle.Patch{Name: "virtual", RemoveStates: []string{lifecycle.PendingReview, lifecycle.PendingOutbound,
		lifecycle.PendingInbound, lifecycle.Rejected, lifecycle.OutboundFailed, lifecycle.InboundFailed},
		Retarget: map[string]string{lifecycle.EventPay: lifecycle.Completed}}
	f.must(f.reg.AddProduct(Product{Name: "virt", Priority: 10, LifecyclePatch: virtual, PaymentTimeout: 15 * time.Minute,
		ReturnWindow: 48 * time.Hour}))
	f.must(f.reg.AddProduct(Product{Name: "full", Priority: 5, Lifecycle: lifecycle.Default()}))
	f.must(f.reg.AddProduct(Product{Name: "full2", Priority: 5, Lifecycle: lifecycle.Default()}))
	f.start()
	set := f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "virtual", Products: products("virt", "full")},
		{Code: "virtual.topup", PaymentTimeout: Duration(5 * time.Minute)},
		{Code: "dist", Products: products("full"), ReturnWindow: Duration(24 * time.Hour)},
		{Code: "dist.kid"},
	}})
	for _, tc := range []struct {
		code    identity.Code
		graph   string
		timeout time.Duration
		window  time.Duration // return window
		payTo   string
	}{
		{"virtual", "virtual", 15 * time.Minute, 48 * time.Hour, lifecycle.Completed},
		{"virtual.topup", "virtual", 5 * time.Minute, 48 * time.Hour, lifecycle.Completed},
		{"dist", "distribution", DefaultPaymentTimeout, 24 * time.Hour, lifecycle.PendingReview},
		{"dist.kid", "distribution", DefaultPaymentTimeout, 24 * time.Hour, lifecycle.PendingReview},
		{identity.Root, "distribution", DefaultPaymentTimeout, DefaultReturnWindow, lifecycle.PendingReview},
	} {
		p, _ := set.Plan(tc.code)
		if p.Lifecycle().Graph().Name != tc.graph || p.PaymentTimeout() != tc.timeout || p.ReturnWindow() != tc.window {
			t.Errorf("%s: graph %q timeout %v return window %v", tc.code, p.Lifecycle().Graph().Name, p.PaymentTimeout(), p.ReturnWindow())
		}
		m, err := p.Lifecycle().Machine(lifecycle.PendingPayment)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := m.Fire(t.Context(), lifecycle.Request{OrderID: "o1", Version: 1, Event: lifecycle.EventPay}, nil, nil)
		if err != nil || tr.To != tc.payTo {
			t.Errorf("%s: pay → %q, %v; want %s", tc.code, tr.To, err, tc.payTo)
		}
	}
	_, err := f.k.Apply(Config{Revision: 2, Identities: []IdentitySpec{{Code: "x", Products: products("full", "full2")}}})
	if ce := asConfig(t, err); !strings.Contains(ce.Error(), "both replace the lifecycle") {
		t.Fatalf("err = %v", ce)
	}
}

// One operation sees one plan version from start to end while new
// configurations are applied concurrently.
func TestPlanSwapUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	f.must(f.reg.Register(versioned))
	for rev := 0; rev < 4; rev++ {
		f.must(f.reg.AddProduct(product(fmt.Sprintf("v%d", rev), 1, bindArgs("test.pick", "pick.versioned", map[string]int{"rev": rev}))))
	}
	f.start()
	config := func(rev int64) Config {
		return Config{Revision: rev, Identities: []IdentitySpec{{Code: "shop", Products: products(fmt.Sprintf("v%d", rev%4))}}}
	}
	f.apply(config(4))

	const readers, opsPerReader, swaps = 8, 300, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for rev := int64(5); rev < 5+swaps; rev++ {
			if _, err := f.k.Apply(config(rev)); err != nil {
				t.Error(err)
				return
			}
		}
		close(stop)
	})
	seen := make([]map[int64]bool, readers)
	for r := range readers {
		seen[r] = map[int64]bool{}
		wg.Go(func() {
			for i := 0; i < opsPerReader; i++ {
				op, err := f.k.Begin(context.Background(), "shop")
				if err != nil {
					t.Error(err)
					return
				}
				rev := op.Plan().Revision()
				want := fmt.Sprint(rev % 4)
				for call := 0; call < 3; call++ {
					got, err := pick.Call(op, "")
					if err != nil || got != want {
						t.Errorf("op on revision %d: call %d answered %q, %v; want %q", rev, call, got, err, want)
						return
					}
					if call == 0 {
						time.Sleep(time.Microsecond) // let a swap land mid-operation
					}
				}
				seen[r][rev] = true
			}
		})
	}
	wg.Wait()
	<-stop
	total := map[int64]bool{}
	for _, s := range seen {
		for rev := range s {
			total[rev] = true
		}
	}
	if len(total) < 2 {
		t.Fatalf("operations saw only revisions %v: the swap did not interleave", total)
	}
	if f.k.Plans().Revision() != 4+swaps {
		t.Fatalf("final revision %d", f.k.Plans().Revision())
	}
}

func TestRecompilePicksUpANewBizpackVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	f.must(f.reg.PutBizpack(Bizpack{Name: "b", Version: "1", Impls: []Implementation{pick.Impl("b.pick", answer("v1"))}}))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "s", Bizpacks: []BizpackRef{{Name: "b"}}}}})
	before := f.begin("s")
	f.must(f.reg.PutBizpack(Bizpack{Name: "b", Version: "2", Impls: []Implementation{pick.Impl("b.pick", answer("v2"))}}))
	if _, err := f.k.Recompile(); err != nil {
		t.Fatal(err)
	}
	if got, _ := pick.Call(before, ""); got != "v1" {
		t.Fatalf("an operation begun before the swap answered %q", got)
	}
	if got, _ := pick.Call(f.begin("s"), ""); got != "v2" {
		t.Fatalf("a new operation answered %q", got)
	}
	f.reg.RemoveBizpack("b")
	if _, err := f.k.Recompile(); err == nil {
		t.Fatal("recompiling without a bound bizpack must fail")
	}
	if got, _ := pick.Call(f.begin("s"), ""); got != "v2" {
		t.Fatalf("the failed recompile replaced the plan: %q", got)
	}
}

func TestRegistryRefusesDuplicates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	f.must(f.reg.Register(pick.Impl("a", answer("a"))))
	for name, err := range map[string]error{
		"implementation": f.reg.Register(pick.Impl("a", answer("again"))),
		"second default": func() error {
			f.must(f.reg.SetDefault(pick.Impl("d1", answer("d"))))
			return f.reg.SetDefault(pick.Impl("d2", answer("d")))
		}(),
		"product": func() error {
			f.must(f.reg.AddProduct(Product{Name: "p"}))
			return f.reg.AddProduct(Product{Name: "p"})
		}(),
		"unknown point":   f.reg.Register(DeclareFirst[string, string]("test.unlisted", Options{Policy: Fail}).Impl("u", answer("u"))),
		"bizpack twice":   f.reg.PutBizpack(Bizpack{Name: "b", Impls: []Implementation{pick.Impl("b1", answer("1")), pick.Impl("b2", answer("2"))}}),
		"catalogue twice": f.cat.Add(pick),
		"effect twice": func() error {
			e := lifecycle.Effect{Name: "e", Do: func(context.Context, lifecycle.Transition) error { return nil }}
			f.must(f.reg.AddEffect(e))
			return f.reg.AddEffect(e)
		}(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBizpackShapesTheLifecycleOfTheIdentitiesThatBindIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	// A flash-sale bizpack drops the review step: paid orders go straight
	// to outbound.
	f.must(f.reg.PutBizpack(Bizpack{Name: "flash", Version: "1", LifecyclePatch: &lifecycle.Patch{Name: "flash",
		RemoveStates: []string{lifecycle.PendingReview, lifecycle.Rejected},
		Retarget:     map[string]string{lifecycle.EventPay: lifecycle.PendingOutbound}}}))
	f.start()
	set := f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "sale", Bizpacks: []BizpackRef{{Name: "flash"}}},
		{Code: "sale.hot"},
		{Code: "plain"},
	}})
	for code, want := range map[identity.Code]string{"sale": "flash", "sale.hot": "flash", "plain": "distribution"} {
		p, _ := set.Plan(code)
		if got := p.Lifecycle().Graph().Name; got != want {
			t.Errorf("%s: lifecycle %q, want %q", code, got, want)
		}
	}
	p, _ := set.Plan("sale")
	if p.Lifecycle().IsTerminal(lifecycle.Rejected) || len(p.Lifecycle().Allowed(lifecycle.PendingReview)) != 0 {
		t.Error("the bizpack's patch did not remove the review step")
	}
}
