package order

import (
	"context"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// Snapshot is what a transition needs to know of an order: its identity,
// its stored state and version, and what order.guard implementations see.
type Snapshot struct {
	ID      string
	BizCode string
	BuyerID string
	State   string
	Version int64
	Total   extensions.Money
	// Attributes of the order, passed to order.guard.
	Attributes map[string]any
}

// Event is one lifecycle event to fire.
type Event struct {
	Name  string
	Actor string
	Data  map[string]string
	// IfVersion, when not 0, is the order's version the caller read: the
	// event is fired only on that version, else CodeOrderStale (checked
	// again on every retry, so it holds against concurrent changes).
	IfVersion int64
	// steps are writes of the platform's own that must commit with the
	// transition (a card capture with the pay event).
	steps []store.Step
}

// Fire fires an event on an order through the operation's plan: the
// identity's lifecycle rebuilt at the stored state, the order.guard point
// before the state changes (the first veto wins and is returned as a
// *lifecycle.VetoError naming the implementation), then the transition's
// effects, then commit, which persists the change. If an effect or commit
// fails, the effects that ran are compensated in reverse.
func Fire(op *kernel.Operation, o Snapshot, ev Event, commit func(ctx context.Context, t lifecycle.Transition) error) (lifecycle.Transition, error) {
	m, err := op.Plan().Lifecycle().Machine(o.State)
	if err != nil {
		return lifecycle.Transition{}, err
	}
	return m.Fire(op.Context(), lifecycle.Request{OrderID: o.ID, Version: o.Version, Event: ev.Name, Data: ev.Data, Actor: ev.Actor},
		GuardOf(op, o), commit)
}

// GuardOf adapts the order.guard point of an operation to a lifecycle guard.
func GuardOf(op *kernel.Operation, o Snapshot) lifecycle.Guard {
	return func(_ context.Context, t lifecycle.Transition) error {
		d, err := Guard.Call(op, extensions.GuardRequest{OrderID: o.ID, BizCode: o.BizCode, BuyerID: o.BuyerID,
			Event: t.Event, From: t.From, To: t.To, Total: o.Total, Actor: t.Actor, Data: t.Data,
			Attributes: o.Attributes})
		if err != nil {
			return err
		}
		if !d.Allowed {
			return &lifecycle.VetoError{Guard: d.By, Code: d.Code, Reason: d.Reason}
		}
		return nil
	}
}
