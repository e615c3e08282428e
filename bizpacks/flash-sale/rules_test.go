package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

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
				}},
				{"payment timeout", got.PaymentTimeout, "2m"},
				{"lifecycle", got.Lifecycle, (*extensions.LifecyclePatch)(nil)},
				{"protocol", got.Protocol, "1.3"},
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

func TestDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OneUnit(ctx, extensions.ValidateRequest{Lines: []extensions.Line{{SKU: "a", Quantity: 1}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("validate: err = %v, want context.Canceled", err)
	}
}
