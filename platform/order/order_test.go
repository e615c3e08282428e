package order_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
)

// auditor is a bizpack guard that records every transition it is asked
// about and vetoes approval without a reviewer.
type auditor struct {
	mu   sync.Mutex
	seen []string
}

func (a *auditor) guard(_ context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
	a.mu.Lock()
	a.seen = append(a.seen, req.Event+":"+req.From+"→"+req.To)
	a.mu.Unlock()
	switch {
	case req.Data["fail"] == "yes":
		return extensions.Verdict{}, errors.New("audit service down")
	case req.Event == lifecycle.EventApprove && req.Data["reviewer"] == "":
		return extensions.Deny("reviewer_required", "approval needs a reviewer"), nil
	}
	return extensions.Allow(), nil
}

type ledger struct {
	mu         sync.Mutex
	done, undo []string
}

func (l *ledger) effect() lifecycle.Effect {
	return lifecycle.Effect{Name: "test.capture",
		Do: func(_ context.Context, t lifecycle.Transition) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.done = append(l.done, t.Key)
			return nil
		},
		Undo: func(_ context.Context, t lifecycle.Transition) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.undo = append(l.undo, t.Key)
			return nil
		}}
}

func newKernel(t *testing.T) (*kernel.Kernel, *auditor, *ledger) {
	t.Helper()
	cat, reg, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	a, l := &auditor{}, &ledger{}
	if err := reg.PutBizpack(kernel.Bizpack{Name: "audit", Version: "1", Impls: []kernel.Implementation{
		order.Guard.Impl("audit.guard", a.guard)}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddEffect(l.effect()); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	capturing := &lifecycle.Patch{RemoveEvents: []string{lifecycle.EventPay}, AddEvents: []lifecycle.Event{{
		Name: lifecycle.EventPay, From: []string{lifecycle.PendingPayment}, To: lifecycle.PendingReview, Effects: []string{"test.capture"}}}}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "dist", Bizpacks: []kernel.BizpackRef{{Name: "audit"}}, LifecyclePatch: capturing},
	}}); err != nil {
		t.Fatal(err)
	}
	return k, a, l
}

func TestFireWalksTheDefaultGraphThroughTheGuard(t *testing.T) {
	t.Parallel()
	k, a, l := newKernel(t)
	op, err := k.Begin(t.Context(), "dist")
	if err != nil {
		t.Fatal(err)
	}
	o := order.Snapshot{ID: "o-1", BizCode: "dist", BuyerID: "b-1", State: lifecycle.Created, Version: 1,
		Total: extensions.Money{Amount: 1000, Currency: "CNY"}}
	var committed []string
	commit := func(_ context.Context, tr lifecycle.Transition) error {
		committed = append(committed, tr.To)
		return nil
	}
	for _, ev := range []order.Event{
		{Name: lifecycle.EventPlace}, {Name: lifecycle.EventPay},
		{Name: lifecycle.EventApprove, Data: map[string]string{"reviewer": "r-1"}},
		{Name: lifecycle.EventShip}, {Name: lifecycle.EventReceive},
	} {
		tr, err := order.Fire(op, o, ev, commit)
		if err != nil {
			t.Fatalf("%s from %s: %v", ev.Name, o.State, err)
		}
		o.State, o.Version = tr.To, o.Version+1
	}
	want := []string{lifecycle.PendingPayment, lifecycle.PendingReview, lifecycle.PendingOutbound, lifecycle.PendingInbound, lifecycle.Completed}
	if !slices.Equal(committed, want) {
		t.Fatalf("committed %v, want %v", committed, want)
	}
	if len(a.seen) != 5 || a.seen[2] != "approve:pending_review→pending_outbound" {
		t.Fatalf("guard saw %v", a.seen)
	}
	if !slices.Equal(l.done, []string{"o-1/2/pay"}) || len(l.undo) != 0 {
		t.Fatalf("effect ran %v, undone %v", l.done, l.undo)
	}
	if _, err := order.Fire(op, o, order.Event{Name: lifecycle.EventCancel}, commit); err == nil {
		t.Fatal("cancel from completed was allowed")
	} else if nae := (*lifecycle.EventNotAllowedError)(nil); !errors.As(err, &nae) || len(nae.Allowed) != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestFireVetoFailureAndCompensation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		state     string
		event     order.Event
		commitErr error
		check     func(t *testing.T, err error, l *ledger)
	}{
		{"veto leaves the state and names the guard", lifecycle.PendingReview, order.Event{Name: lifecycle.EventApprove},
			nil, func(t *testing.T, err error, _ *ledger) {
				var ve *lifecycle.VetoError
				if !errors.As(err, &ve) || ve.Guard != "audit.guard" || ve.Code != "reviewer_required" {
					t.Fatalf("err = %v", err)
				}
			}},
		{"a failing guard fails the transition under the Fail policy", lifecycle.PendingPayment,
			order.Event{Name: lifecycle.EventPay, Data: map[string]string{"fail": "yes"}},
			nil, func(t *testing.T, err error, l *ledger) {
				var ge *lifecycle.GuardError
				var ee *kernel.ExtensionError
				if !errors.As(err, &ge) || !errors.As(err, &ee) || ee.Impl != "audit.guard" {
					t.Fatalf("err = %v", err)
				}
				if len(l.done) != 0 {
					t.Fatal("an effect ran although the guard failed")
				}
			}},
		{"a failed commit compensates the effects", lifecycle.PendingPayment, order.Event{Name: lifecycle.EventPay},
			errors.New("database gone"), func(t *testing.T, err error, l *ledger) {
				var ce *lifecycle.CommitError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v", err)
				}
				if !slices.Equal(l.done, []string{"o-2/4/pay"}) || !slices.Equal(l.undo, l.done) {
					t.Fatalf("done %v undone %v", l.done, l.undo)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, _, l := newKernel(t)
			op, _ := k.Begin(t.Context(), "dist")
			committed := false
			_, err := order.Fire(op, order.Snapshot{ID: "o-2", BizCode: "dist", State: tc.state, Version: 4}, tc.event,
				func(context.Context, lifecycle.Transition) error { committed = true; return tc.commitErr })
			if err == nil {
				t.Fatal("transition succeeded")
			}
			if committed && tc.commitErr == nil {
				t.Fatal("commit ran after a refusal")
			}
			tc.check(t, err, l)
		})
	}
}

func TestBasicValidation(t *testing.T) {
	t.Parallel()
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		lines []extensions.Line
		code  string // empty: allowed
	}{
		{"one line", []extensions.Line{{SKU: "a", Quantity: 1}}, ""},
		{"no lines", nil, "no_lines"},
		{"zero quantity", []extensions.Line{{SKU: "a", Quantity: 0}}, "bad_quantity"},
		{"negative quantity", []extensions.Line{{SKU: "a", Quantity: -3}}, "bad_quantity"},
		{"duplicate SKU", []extensions.Line{{SKU: "a", Quantity: 1}, {SKU: "a", Quantity: 2}}, "duplicate_line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, _ := k.Begin(t.Context(), "")
			d, err := order.Validate.Call(op, extensions.ValidateRequest{Lines: tc.lines})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (tc.code == "") || d.Code != tc.code {
				t.Fatalf("decision %+v, want code %q", d, tc.code)
			}
			if !d.Allowed && d.By != "order.basic" {
				t.Fatalf("veto by %q", d.By)
			}
		})
	}
}
