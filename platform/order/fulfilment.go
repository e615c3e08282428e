package order

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// defaultFulfilmentDeadline bounds an order that reaches fulfilling through
// a lifecycle of its own without the identity configuring fulfilment.
const defaultFulfilmentDeadline = 30 * time.Minute

// fulfilmentSteps are the writes of a transition into fulfilling: the
// order's fulfilment work row, due at once, with its deadline counted from
// now (the payment). platform/fulfilment's worker takes it from there.
func fulfilmentSteps(plan *kernel.Plan, o store.Order, to string, now time.Time) []store.Step {
	if to != lifecycle.Fulfilling {
		return nil
	}
	f, ok := plan.Fulfilment()
	if !ok {
		f = kernel.Fulfilment{Deadline: defaultFulfilmentDeadline, PollEvery: kernel.DefaultFulfilmentPoll}
	}
	row := store.Fulfilment{OrderID: o.ID, BizCode: o.BizCode, State: store.FulfilmentDispatch, NextAttempt: now.UnixMicro(),
		Deadline: now.Add(f.Deadline).UnixMicro(), PollEveryMicros: f.PollEvery.Microseconds(), CreatedAt: now, UpdatedAt: now}
	return []store.Step{func(ctx context.Context, tx *gorm.DB) error {
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("fulfilment of order %s: %w", o.ID, err)
		}
		return nil
	}}
}

// FireFulfilment fires a supplier's answer on an order (lifecycle.EventFulfil
// or lifecycle.EventFulfilFail) with step, the fulfilment row's move, in
// the transition's transaction: the order's state and its work row change
// together or not at all. fulfil_fail refunds the order in full in the same
// transaction (see refundOnTransition). Only platform/fulfilment calls it.
func (s *Service) FireFulfilment(ctx context.Context, id, event, actor string, data map[string]string, step store.Step) (View, error) {
	if event != lifecycle.EventFulfil && event != lifecycle.EventFulfilFail {
		return View{}, fmt.Errorf("order: %q is not a fulfilment event", event)
	}
	ev := Event{Name: event, Actor: actor, Data: data}
	if step != nil {
		ev.steps = []store.Step{step}
	}
	return s.Fire(ctx, id, ev)
}

// FulfilmentEvent reports whether event is one only the supplier's answers
// fire (through FireFulfilment, never through the API).
func FulfilmentEvent(event string) bool {
	return slices.Contains([]string{lifecycle.EventFulfil, lifecycle.EventFulfilFail}, event)
}
