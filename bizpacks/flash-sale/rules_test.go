package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

const identity = "retail.flash"

func TestManifest(t *testing.T) {
	if _, err := extensions.ParseManifest(manifestJSON); err != nil {
		t.Fatalf("bizpack.json does not parse: %v", err)
	}
	if err := newBizpack().Err(); err != nil {
		t.Fatalf("bizpack does not check: %v", err)
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			got := r.Manifest()
			cases := []struct {
				field     string
				got, want any
			}{
				{"name", got.Name, "flash-sale"},
				{"identities", got.Identities, []string{identity}},
				{"points", got.Points, []extensions.PointTypes{
					{Point: extensions.OrderValidate, Request: "ValidateRequest", Response: "Verdict"},
					{Point: extensions.OrderGuard, Request: "GuardRequest", Response: "Verdict"},
				}},
				{"payment timeout", got.PaymentTimeout, "2m"},
				{"lifecycle", got.Lifecycle, (*extensions.LifecyclePatch)(nil)},
				{"protocol", got.Protocol, "1.1"},
			}
			for _, c := range cases {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestOneUnitPerOrder(t *testing.T) {
	one := func(sku string, q int64) extensions.Line {
		return extensions.Line{SKU: sku, Quantity: q, UnitPrice: 99900}
	}
	cases := []struct {
		name      string
		lines     []extensions.Line
		allow     bool
		reasonHas string
	}{
		{"one unit of one SKU", []extensions.Line{one("phone", 1)}, true, ""},
		{"two units", []extensions.Line{one("phone", 2)}, false, "asks for 2 of phone"},
		{"no unit", []extensions.Line{one("phone", 0)}, false, "asks for 0 of phone"},
		{"a negative quantity", []extensions.Line{one("phone", -1)}, false, "asks for -1"},
		{"two lines of one unit", []extensions.Line{one("phone", 1), one("case", 1)}, false, "has 2 lines"},
		{"two lines of one SKU", []extensions.Line{one("phone", 1), one("phone", 1)}, false, "has 2 lines"},
		{"no lines", nil, false, "has 0 lines"},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				v, err := harness.Call[extensions.Verdict](r, extensions.OrderValidate, identity,
					extensions.ValidateRequest{BizCode: identity, Buyer: extensions.Buyer{ID: "alice"}, Lines: c.lines})
				switch {
				case err != nil:
					t.Errorf("%s: %v", c.name, err)
				case c.allow && !v.Allow:
					t.Errorf("%s: %+v, want allow", c.name, v)
				case !c.allow && (v.Allow || v.Code != CodeOneUnitPerOrder || !strings.Contains(v.Reason, c.reasonHas)):
					t.Errorf("%s: %+v, want deny %s with a reason containing %q", c.name, v, CodeOneUnitPerOrder, c.reasonHas)
				}
			}
		})
	}
}

// step is one order.guard call of a scenario; want is "allow", "skip", a
// denial code, or "fail".
type step struct {
	event, buyer, order string
	want                string
	reasonHas           string
}

func call(r *harness.Runner, s step) (extensions.Verdict, error) {
	return harness.Call[extensions.Verdict](r, extensions.OrderGuard, identity, extensions.GuardRequest{
		OrderID: s.order, BizCode: identity, BuyerID: s.buyer, Event: s.event,
		Total: extensions.Money{Amount: 99900, Currency: "CNY"}})
}

func checkStep(t *testing.T, r *harness.Runner, i int, s step) {
	t.Helper()
	v, err := call(r, s)
	name := fmt.Sprintf("step %d (%s of %s by %s)", i+1, s.event, s.order, s.buyer)
	var ce *harness.CallError
	switch s.want {
	case "skip":
		if !errors.Is(err, extensions.ErrSkip) {
			t.Errorf("%s: %+v, %v; want skip", name, v, err)
		}
	case "fail":
		if !errors.As(err, &ce) {
			t.Errorf("%s: %+v, %v; want a failed call", name, v, err)
		}
	case "allow":
		if err != nil || !v.Allow {
			t.Errorf("%s: %+v, %v; want allow", name, v, err)
		}
	default:
		if err != nil || v.Allow || v.Code != s.want || !strings.Contains(v.Reason, s.reasonHas) {
			t.Errorf("%s: %+v, %v; want deny %s with a reason containing %q", name, v, err, s.want, s.reasonHas)
		}
	}
}

func TestOnePerBuyer(t *testing.T) {
	const taken = CodeOnePerBuyer
	cases := []struct {
		name  string
		steps []step // buyer "b" is replaced by the scenario's own buyer
	}{
		{"the first order claims the buyer", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: taken, reasonHas: "already has flash-sale order o1"},
		}},
		{"the same order asked again is allowed", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: taken},
		}},
		{"cancel releases, and the buyer may order again", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "cancel", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: "allow"},
			{event: "place", buyer: "b", order: "o3", want: taken, reasonHas: "o2"},
		}},
		{"payment_timeout releases", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "payment_timeout", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: "allow"},
		}},
		{"payment_fail releases", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "payment_fail", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: "allow"},
		}},
		{"a release twice releases once", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "cancel", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: "allow"},
			{event: "cancel", buyer: "b", order: "o1", want: "allow"}, // late duplicate: o2 keeps its claim
			{event: "place", buyer: "b", order: "o3", want: taken, reasonHas: "o2"},
		}},
		{"another order's cancel does not release", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: taken},
			{event: "cancel", buyer: "b", order: "o2", want: "allow"},
			{event: "place", buyer: "b", order: "o3", want: taken, reasonHas: "o1"},
		}},
		{"a release without a claim allows", []step{
			{event: "cancel", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b", order: "o2", want: "allow"},
		}},
		{"a paid order keeps its claim", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "pay", buyer: "b", order: "o1", want: "skip"},
			{event: "place", buyer: "b", order: "o2", want: taken},
		}},
		{"other events skip", []step{
			{event: "pay", buyer: "b", order: "o1", want: "skip"},
			{event: "ship", buyer: "b", order: "o1", want: "skip"},
			{event: "receive", buyer: "b", order: "o1", want: "skip"},
		}},
		{"buyers are separate", []step{
			{event: "place", buyer: "b", order: "o1", want: "allow"},
			{event: "place", buyer: "b-other", order: "o2", want: "allow"},
			{event: "cancel", buyer: "b-other", order: "o1", want: "allow"}, // not the other buyer's claim
			{event: "place", buyer: "b", order: "o3", want: taken},
		}},
		{"requests without ids fail", []step{
			{event: "place", buyer: "b", order: "", want: "fail"},
			{event: "place", buyer: "", order: "o1", want: "fail"},
			{event: "cancel", buyer: "", order: "o1", want: "fail"},
			{event: "place", buyer: "b", order: "o1", want: "allow"}, // nothing was claimed by the failures
		}},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					for i, s := range c.steps {
						if s.buyer != "" {
							s.buyer = c.name + "/" + s.buyer
						}
						checkStep(t, r, i, s)
					}
				})
			}
		})
	}
}

// TestOnePerBuyerConcurrent places 50 different orders for one buyer at
// once: exactly one is allowed, and every other is denied naming it. Then
// the winner is cancelled and one of the losers can claim the buyer.
func TestOnePerBuyerConcurrent(t *testing.T) {
	const n = 50
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			r.Timeout = 10 * time.Second // many calls at once under -race; the deadline is not what is tested
			cases := []struct{ name, buyer string }{
				{"first round", "crowd"},
				{"another buyer, same orders", "crowd-2"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					verdicts := make([]extensions.Verdict, n)
					errs := make([]error, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							verdicts[i], errs[i] = call(r, step{event: "place", buyer: c.buyer, order: fmt.Sprintf("o%d", i)})
						})
					}
					wg.Wait()
					winner := -1
					for i := range n {
						switch {
						case errs[i] != nil:
							t.Fatalf("order o%d: %v", i, errs[i])
						case verdicts[i].Allow && winner >= 0:
							t.Fatalf("orders o%d and o%d were both allowed", winner, i)
						case verdicts[i].Allow:
							winner = i
						}
					}
					if winner < 0 {
						t.Fatal("no order was allowed")
					}
					for i := range n {
						if i != winner {
							checkVerdict(t, i, verdicts[i], fmt.Sprintf("o%d", winner))
						}
					}
					loser := (winner + 1) % n
					for i, s := range []step{
						{event: "place", buyer: c.buyer, order: fmt.Sprintf("o%d", loser), want: CodeOnePerBuyer},
						{event: "cancel", buyer: c.buyer, order: fmt.Sprintf("o%d", winner), want: "allow"},
						{event: "place", buyer: c.buyer, order: fmt.Sprintf("o%d", loser), want: "allow"},
						{event: "place", buyer: c.buyer, order: fmt.Sprintf("o%d", winner), want: CodeOnePerBuyer},
					} {
						checkStep(t, r, i, s)
					}
				})
			}
		})
	}
}

func checkVerdict(t *testing.T, i int, v extensions.Verdict, winner string) {
	t.Helper()
	if v.Allow || v.Code != CodeOnePerBuyer || !strings.Contains(v.Reason, "order "+winner+";") {
		t.Errorf("order o%d: %+v, want deny %s naming %s", i, v, CodeOnePerBuyer, winner)
	}
}

func TestDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := NewOnePerBuyer()
	cases := []struct {
		name string
		call func() error
	}{
		{"validate", func() error {
			_, err := OneUnit(ctx, extensions.ValidateRequest{Lines: []extensions.Line{{SKU: "a", Quantity: 1}}})
			return err
		}},
		{"guard", func() error {
			_, err := g.Guard(ctx, extensions.GuardRequest{OrderID: "o1", BuyerID: "b", Event: "place"})
			return err
		}},
	}
	for _, c := range cases {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", c.name, err)
		}
	}
	// The cancelled call claimed nothing.
	if v, err := g.Guard(context.Background(), extensions.GuardRequest{OrderID: "o2", BuyerID: "b", Event: "place"}); err != nil || !v.Allow {
		t.Errorf("after a cancelled call: %+v, %v; want allow", v, err)
	}
}
