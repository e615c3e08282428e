package harness_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

func TestRunnersAgree(t *testing.T) {
	dir := "testdata/greeter"
	bin := harness.Build(t, dir)
	runners := []*harness.Runner{harness.Start(t, bin)}
	for _, r := range runners {
		r.Timeout = 200 * time.Millisecond
		t.Run(r.Name(), func(t *testing.T) {
			if m := r.Manifest(); m.Name != "greeter" || len(m.Points) != 2 || m.Points[0].Request != "ValidateRequest" || m.Protocol != "1.3" {
				t.Fatalf("manifest = %+v", m)
			}
			cases := []struct {
				buyer   string
				allow   bool
				outcome plugin.Outcome
				skip    bool
			}{
				{buyer: "alice", allow: true},
				{buyer: "deny"},
				{buyer: "skip", skip: true},
				{buyer: "panic", outcome: plugin.Panic},
				{buyer: "hang", outcome: plugin.Timeout},
				{buyer: "bob", allow: true}, // still serving after a panic and a hang
			}
			for _, c := range cases {
				v, err := harness.Call[extensions.Verdict](r, extensions.OrderValidate, "retail",
					extensions.ValidateRequest{Buyer: extensions.Buyer{ID: c.buyer}})
				var ce *harness.CallError
				switch {
				case c.skip:
					if !errors.Is(err, extensions.ErrSkip) {
						t.Errorf("%s: err = %v, want skip", c.buyer, err)
					}
				case c.outcome != 0:
					if !errors.As(err, &ce) || ce.Outcome != c.outcome {
						t.Errorf("%s: err = %v, want %s", c.buyer, err, c.outcome)
					}
				case err != nil || v.Allow != c.allow:
					t.Errorf("%s: verdict %+v, %v; want allow=%v", c.buyer, v, err, c.allow)
				}
			}
			s, err := harness.Call[extensions.PriceSheet](r, extensions.PricingAdjust, "retail",
				extensions.PriceSheet{Lines: []extensions.Line{{SKU: "a", Quantity: 1, UnitPrice: 100}}})
			if err != nil || s.Lines[0].UnitPrice != 99 {
				t.Fatalf("adjust = %+v, %v", s, err)
			}
			_, err = harness.Call[extensions.Route](r, extensions.StockRouteWarehouse, "retail", extensions.RouteRequest{})
			var ce *harness.CallError
			if !errors.As(err, &ce) || ce.Outcome != plugin.UnknownPoint {
				t.Fatalf("unimplemented point: %v", err)
			}
		})
	}
}

// The in-process runner classifies outcomes as the plugin side does.
func TestInProcessRunner(t *testing.T) {
	b := extensions.New(extensions.Manifest{Name: "inproc", Version: "0.1.0",
		Points: []extensions.PointTypes{{Point: extensions.OrderValidate}}})
	extensions.Implement(b, extensions.OrderValidate, func(ctx context.Context, r extensions.ValidateRequest) (extensions.Verdict, error) {
		switch r.Buyer.ID {
		case "panic":
			panic("asked to")
		case "hang":
			<-make(chan struct{})
		case "skip":
			return extensions.Verdict{}, extensions.ErrSkip
		}
		return extensions.Allow(), nil
	})
	r := harness.InProcess(t, b)
	r.Timeout = 50 * time.Millisecond
	for _, c := range []struct {
		buyer string
		want  plugin.Outcome
	}{{"alice", plugin.OK}, {"skip", plugin.Skip}, {"panic", plugin.Panic}, {"hang", plugin.Timeout}} {
		_, err := harness.Call[extensions.Verdict](r, extensions.OrderValidate, "retail", extensions.ValidateRequest{Buyer: extensions.Buyer{ID: c.buyer}})
		var ce *harness.CallError
		switch {
		case c.want == plugin.OK && err != nil, c.want == plugin.Skip && !errors.Is(err, extensions.ErrSkip):
			t.Errorf("%s: %v", c.buyer, err)
		case c.want > plugin.Skip && (!errors.As(err, &ce) || ce.Outcome != c.want):
			t.Errorf("%s: %v, want %s", c.buyer, err, c.want)
		}
	}
}
