package kernel

import (
	"testing"

	"github.com/tmf-platform/tmf/platform/identity"
)

var (
	pick = DeclareFirst[string, string]("test.pick", Options{Doc: "picks a name", Policy: Fallback})
	pipe = DeclarePipeline[string]("test.pipe", Options{Doc: "appends names", Policy: Fail})
	coll = DeclareCollect[string, string]("test.collect", Options{Doc: "gathers names", Policy: Skip})
	gate = DeclareAllPass[string]("test.gate", Options{Doc: "allows or vetoes", Policy: Fail})
)

// layered registers, for every test point, a platform default "d", products
// "low" (priority 10) and "high" (priority 20), and bizpacks "x" and "y".
func layered(t *testing.T) *fixture {
	f := newFixture(t, pick, pipe, coll, gate)
	f.must(f.reg.SetDefault(pick.Impl("pick.d", answer("d")), pipe.Impl("pipe.d", appendName("d")),
		coll.Impl("coll.d", answer("d")), gate.Impl("gate.d", allow)))
	f.must(f.reg.Register(
		pick.Impl("pick.low", answer("low")), pick.Impl("pick.high", answer("high")), pick.Impl("pick.skip", skip[string]),
		pipe.Impl("pipe.low", appendName("low")), pipe.Impl("pipe.high", appendName("high")),
		coll.Impl("coll.low", answer("low")), coll.Impl("coll.high", answer("high")),
		gate.Impl("gate.low", deny("low_says_no")), gate.Impl("gate.high", allow)))
	f.must(f.reg.AddProduct(product("low", 10, bind("test.pick", "pick.low"), bind("test.pipe", "pipe.low"),
		bind("test.collect", "coll.low"), bind("test.gate", "gate.low"))))
	f.must(f.reg.AddProduct(product("high", 20, bind("test.pick", "pick.high"), bind("test.pipe", "pipe.high"),
		bind("test.collect", "coll.high"), bind("test.gate", "gate.high"))))
	f.must(f.reg.AddProduct(product("skipper", 30, bind("test.pick", "pick.skip"))))
	f.must(f.reg.PutBizpack(Bizpack{Name: "x", Version: "2.1.0", Impls: []Implementation{
		pick.Impl("x.pick", answer("x")), pipe.Impl("x.pipe", appendName("x")), coll.Impl("x.collect", answer("x"))}}))
	f.must(f.reg.PutBizpack(Bizpack{Name: "y", Version: "0.1.0", Impls: []Implementation{
		pick.Impl("y.pick", answer("y"))}}))
	f.start()
	return f
}

func TestPrecedenceFirst(t *testing.T) {
	t.Parallel()
	f := layered(t)
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "plain"},
		{Code: "one", Products: products("low")},
		{Code: "two", Products: products("low", "high")},
		{Code: "raised", Products: []ProductRef{{Name: "low", Priority: prio(30)}, {Name: "high"}}},
		{Code: "skips", Products: products("low", "high", "skipper")},
		{Code: "packed", Products: products("low"), Bizpacks: []BizpackRef{{Name: "x"}}},
		{Code: "packed.child"},
		{Code: "packed.child.own", Products: products("high")},
		{Code: "packed.other", Bizpacks: []BizpackRef{{Name: "y"}}},
		{Code: "both", Bizpacks: []BizpackRef{{Name: "x", Priority: 1}, {Name: "y", Priority: 2}}},
	}})
	for _, tc := range []struct {
		code identity.Code
		want string
	}{
		{identity.Root, "d"},
		{"plain", "d"},
		{"one", "low"},
		{"two", "high"},
		{"raised", "low"},
		{"skips", "high"},         // skipper (priority 30) skips, high answers
		{"packed", "x"},           // bizpack over products
		{"packed.child", "x"},     // nothing of its own: the parent's bizpack and products
		{"packed.child.own", "x"}, // own products, but the bizpack layer still comes from the parent
		{"packed.other", "y"},     // own bizpack wins over the parent's
		{"both", "y"},             // higher-priority bizpack first
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			op := f.begin(tc.code)
			got, err := pick.Call(op, "")
			if err != nil || got != tc.want {
				t.Fatalf("pick = %q, %v; want %q (trace %s)", got, err, tc.want, traceString(op))
			}
		})
	}
}

func TestPrecedenceOtherReducers(t *testing.T) {
	t.Parallel()
	f := layered(t)
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{
		{Code: "two", Products: products("low", "high")},
		{Code: "packed", Products: products("low", "high"), Bizpacks: []BizpackRef{{Name: "x"}}},
		{Code: "allowing", Products: products("high")},
	}})
	t.Run("pipeline runs from the default up", func(t *testing.T) {
		got, err := pipe.Call(f.begin("packed"), "")
		if err != nil || got != "d,low,high,x" {
			t.Fatalf("pipe = %q, %v", got, err)
		}
	})
	t.Run("collect gathers highest first", func(t *testing.T) {
		got, err := coll.Call(f.begin("packed"), "")
		if err != nil || len(got) != 4 || got[0] != "x" || got[1] != "high" || got[2] != "low" || got[3] != "d" {
			t.Fatalf("collect = %q, %v", got, err)
		}
	})
	t.Run("all-pass: first veto wins and stops", func(t *testing.T) {
		op := f.begin("two")
		d, err := gate.Call(op, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed || d.By != "gate.low" || d.Code != "low_says_no" || d.Source != "low" || d.Layer != LayerProduct {
			t.Fatalf("decision = %+v", d)
		}
		if got := traceString(op); got != "product/gate.high:ok product/gate.low:veto" {
			t.Fatalf("trace = %s (the default must not run after a veto)", got)
		}
		if d.Err() == nil {
			t.Fatal("a veto's Err must not be nil")
		}
	})
	t.Run("all-pass: everyone allows", func(t *testing.T) {
		d, err := gate.Call(f.begin("allowing"), "")
		if err != nil || !d.Allowed || d.Err() != nil {
			t.Fatalf("decision = %+v, %v", d, err)
		}
	})
}

func TestDescribeNamesWhereEachImplementationComesFrom(t *testing.T) {
	t.Parallel()
	f := layered(t)
	set := f.apply(Config{Revision: 7, Identities: []IdentitySpec{
		{Code: "packed", Products: products("low", "high"), Bizpacks: []BizpackRef{{Name: "x"}}},
		{Code: "packed.child"},
	}})
	p, _ := set.Plan("packed.child")
	if p.Revision() != 7 || p.Identity() != "packed.child" {
		t.Fatalf("plan %s rev %d", p.Identity(), p.Revision())
	}
	var picked *PlannedPoint
	desc := p.Describe()
	for i := range desc {
		if desc[i].Point == "test.pick" {
			picked = &desc[i]
		}
	}
	if picked == nil || picked.Reducer != "first" || picked.Policy != "fallback" {
		t.Fatalf("describe: %+v", desc)
	}
	want := []PlannedImpl{
		{Impl: "x.pick", Layer: "bizpack", Source: "x", Version: "2.1.0", Origin: "packed"},
		{Impl: "pick.high", Layer: "product", Source: "high", Version: "1.0.0", Priority: 20, Origin: "packed"},
		{Impl: "pick.low", Layer: "product", Source: "low", Version: "1.0.0", Priority: 10, Origin: "packed"},
		{Impl: "pick.d", Layer: "default", Source: "platform", Origin: identity.Root},
	}
	if len(picked.Impls) != len(want) {
		t.Fatalf("impls = %+v", picked.Impls)
	}
	for i := range want {
		if picked.Impls[i] != want[i] {
			t.Errorf("impl %d = %+v, want %+v", i, picked.Impls[i], want[i])
		}
	}
	if got := p.Products(); len(got) != 2 || got[0] != "high" || got[1] != "low" {
		t.Errorf("products = %v", got)
	}
}

func TestBeginRefusesUnknownAndDisabledIdentities(t *testing.T) {
	t.Parallel()
	f := layered(t)
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "off", Disabled: true}}})
	if _, err := f.k.Begin(t.Context(), "nope"); err == nil {
		t.Fatal("unknown identity began")
	}
	_, err := f.k.Begin(t.Context(), "off")
	if _, ok := err.(*DisabledError); !ok {
		t.Fatalf("disabled identity: %v", err)
	}
	// What a disabled identity has under way goes on.
	if op, err := f.k.Continue(t.Context(), "off"); err != nil || op.Identity() != "off" {
		t.Fatalf("Continue on a disabled identity: %v", err)
	}
	if _, err := f.k.Continue(t.Context(), "nope"); err == nil {
		t.Fatal("Continue on an unknown identity")
	}
}

func TestCallOfPointOutsideTheCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pick)
	f.start()
	stray := DeclareFirst[int, int]("test.stray", Options{Policy: Fail})
	_, err := stray.Call(f.begin(identity.Root), 1)
	if _, ok := err.(*UnknownPointError); !ok {
		t.Fatalf("err = %v", err)
	}
	if _, err := pick.Call(f.begin(identity.Root), ""); err == nil {
		t.Fatal("a first point with no implementation must report no answer")
	} else if _, ok := err.(*NoAnswerError); !ok {
		t.Fatalf("err = %T %v", err, err)
	}
}
