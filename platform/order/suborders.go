package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// Parent and sub-orders (reference 004 §2.2.1).
//
// An order whose lines ship from different locations (stock.route_warehouse
// cannot ship it from one, but can ship each line from some location), or
// whose lines order.split gives different keys, is placed as ONE parent
// order and its sub-orders, in one local transaction. The parent holds the
// money: the buyer pays it once, its charge, coupons, budgets and agent
// credit are recorded on its id, and every refund of a sub-order is a
// refund of the parent's charge. Each sub-order holds its lines and their
// stock, and has its own lifecycle (the identity's), its history, shipment,
// cancellation and returns. Purchase limits are checked on the whole order
// and recorded per sub-order (its own lines' counts), so a sub-order that
// ends unshipped gives back exactly what it counted.
//
// The parent's status is derived from its sub-orders in every transaction
// that changes one: pending_payment (or created) while they are unpaid;
// paid while one of them is still open; once every one has ended,
// completed if one completed, else their common end state, else cancelled.
// Events before payment (pay, payment_fail, payment_timeout, cancel) are
// fired on the parent and move every sub-order together; after payment the
// sub-orders move one by one (an event fired on the parent moves every
// sub-order that allows it). Sub-order ids are the parent's id and "-NN",
// so they carry the parent's shard.

// MaxSubOrders is how many sub-orders one order may split into.
const MaxSubOrders = 20

// StatusPaid is the status of a parent whose sub-orders are paid and not
// all ended. It belongs to no lifecycle: only parents have it.
const StatusPaid = "paid"

// SubOrderID is the id of a parent's n-th sub-order (1-based): the parent's
// id, which carries the shard, and the number.
func SubOrderID(parentID string, n int) string { return fmt.Sprintf("%s-%02d", parentID, n) }

// part is one sub-order to be: the location its lines ship from and the
// indexes of its lines in the order.
type part struct {
	key      string
	location string
	lines    []int
}

// parts decides how an order ships: one part when one location ships every
// line and order.split keeps the lines together (the order does not
// split); otherwise a part per split key and location. A line no location
// can ship refuses the order as before.
func (s *Service) parts(op *kernel.Operation, rreq extensions.RouteRequest, sreq extensions.SplitRequest) ([]part, error) {
	keys := make([]string, len(rreq.Lines))
	split, err := Split.Call(op, sreq)
	var noAnswer *kernel.NoAnswerError
	switch {
	case errors.As(err, &noAnswer):
	case err != nil:
		return nil, err
	case len(split.Keys) != len(keys):
		return nil, refuse(CodeInvalid, nil, "order.split gave %d keys for %d lines", len(split.Keys), len(keys))
	default:
		copy(keys, split.Keys)
	}
	var groups []part
	for i, k := range keys {
		j := slices.IndexFunc(groups, func(p part) bool { return p.key == k })
		if j < 0 {
			groups = append(groups, part{key: k})
			j = len(groups) - 1
		}
		groups[j].lines = append(groups[j].lines, i)
	}
	var out []part
	for _, g := range groups {
		sub := rreq
		sub.Lines = pick(rreq.Lines, g.lines)
		loc, err := s.route(op, sub)
		if err == nil {
			out = append(out, part{key: g.key, location: loc, lines: g.lines})
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeOutOfStock || len(g.lines) == 1 {
			return nil, err
		}
		// No location ships the group whole: each line from its own.
		at := map[string]int{}
		for _, i := range g.lines {
			one := rreq
			one.Lines = []extensions.Line{rreq.Lines[i]}
			l, lerr := s.route(op, one)
			if lerr != nil {
				return nil, err // the group's refusal names the short line
			}
			if n, ok := at[l]; ok {
				out[n].lines = append(out[n].lines, i)
				continue
			}
			at[l] = len(out)
			out = append(out, part{key: g.key, location: l, lines: []int{i}})
		}
	}
	if len(out) > MaxSubOrders {
		return nil, refuse(CodeInvalid, map[string]any{"max": MaxSubOrders}, "the order would split into %d sub-orders; at most %d", len(out), MaxSubOrders)
	}
	return out, nil
}

func pick[T any](all []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

// family is a placement that splits: the parent as it would have been
// placed whole (all lines, the order's money) and its parts.
type family struct {
	parent  store.Order
	parts   []part
	applied []extensions.Candidate
	// steps are the parent's writes (claims, attribute index, coupons and
	// budgets, credit); the sub-orders reserve their own stock.
	steps []store.Step
	buyer Buyer
	attrs map[string]any
	idem  *Idempotency
	now   time.Time
}

// placeFamily places a parent and its sub-orders in ONE transaction. The
// money of the order is shared over the sub-orders with the
// largest-remainder allocation: each sub-order's lines keep their own
// prices and discounts, and the freight is shared by the sub-orders' net
// amounts, so that the sub-orders' totals sum to the parent's.
func (s *Service) placeFamily(op *kernel.Operation, f family) (View, error) {
	plan := op.Plan()
	p := f.parent
	net := make([]int64, len(f.parts))
	var sum int64
	for i, pt := range f.parts {
		for _, j := range pt.lines {
			net[i] += p.Lines[j].LineTotal - p.Lines[j].Discount
		}
		sum += net[i]
	}
	weights := net
	if sum < p.Freight {
		// Nothing to weigh by (free goods that ship): equal shares.
		weights = make([]int64, len(net))
		for i := range weights {
			weights[i] = p.Freight
		}
	}
	freight, err := pricing.Allocate(p.Freight, weights)
	if err != nil {
		return View{}, refuse(CodePricing, nil, "freight %d cannot be shared over the sub-orders: %v", p.Freight, err)
	}

	lines := p.Lines
	p.Lines, p.Location, p.SubOrders = nil, "", len(f.parts)
	kids := make([]store.Order, len(f.parts))
	reserves := make([]stock.ReserveRequest, len(f.parts))
	for i, pt := range f.parts {
		k := p
		k.ID, k.ParentID, k.SubOrders, k.Location, k.Attributes = SubOrderID(p.ID, i+1), p.ID, 0, pt.location, p.Attributes
		k.Subtotal, k.Discount, k.Freight = 0, 0, freight[i]
		reserves[i] = stock.ReserveRequest{OrderID: k.ID, Location: pt.location, Channel: p.Channel, BuyerID: f.buyer.ID}
		for n, j := range pt.lines {
			l := lines[j]
			l.OrderID, l.LineNo = k.ID, n+1
			k.Lines = append(k.Lines, l)
			k.Subtotal += l.LineTotal
			k.Discount += l.Discount
			reserves[i].Lines = append(reserves[i].Lines, stock.LineQty{LineNo: n + 1, SKU: l.SKU, Quantity: l.Quantity})
		}
		k.Total = k.Subtotal - k.Discount + k.Freight
		kids[i] = k
	}

	holds := make([]store.Step, len(kids))
	ids := make([]string, 0, len(kids))
	for i := range kids {
		hold, err := s.stock.Try(op.Context(), reserves[i])
		if err != nil {
			s.stock.Finish(context.WithoutCancel(op.Context()), false, ids...)
			return View{}, s.placeError(err)
		}
		holds[i], ids = hold, append(ids, kids[i].ID)
	}
	news := make([]store.NewOrder, len(kids))
	var fire func(i int) error
	fire = func(i int) error {
		if i == len(kids) {
			return s.commitFamily(op, f, p, kids, news)
		}
		k := kids[i]
		snap := Snapshot{ID: k.ID, BizCode: k.BizCode, BuyerID: k.BuyerID, State: plan.Lifecycle().Initial(),
			Total: extensions.Money{Amount: k.Total, Currency: k.Currency}, Attributes: f.attrs}
		_, err := Fire(op, snap, Event{Name: lifecycle.EventPlace, Actor: f.buyer.ID}, func(ctx context.Context, t lifecycle.Transition) error {
			kids[i].Status = t.To
			news[i] = store.NewOrder{
				History: store.OrderHistory{OrderID: k.ID, Version: 1, Event: t.Event, FromState: t.From, ToState: t.To, Actor: f.buyer.ID, CreatedAt: f.now},
				Steps:   []store.Step{holds[i], s.levelEvents(k, reserves[i], nil)},
			}
			return fire(i + 1)
		})
		return err
	}
	var view View
	err = fire(0)
	s.stock.Finish(context.WithoutCancel(op.Context()), err == nil, ids...)
	if err == nil {
		view, err = s.Get(op.Context(), p.ID)
	}
	if err != nil {
		return View{}, s.placeError(innermost(err))
	}
	return view, nil
}

// commitFamily writes the placed family: the parent (status derived from
// the sub-orders, the payment deadline, the placement's trace, its
// order.placed event with the sub-orders) and each sub-order (its
// order.placed event naming the parent).
func (s *Service) commitFamily(op *kernel.Operation, f family, p store.Order, kids []store.Order, news []store.NewOrder) error {
	plan := op.Plan()
	lc := plan.Lifecycle()
	p.Status = parentStatus(lc, kids)
	if p.Status == lifecycle.PendingPayment {
		deadline := f.now.Add(plan.PaymentTimeout())
		p.PaymentDeadline = &deadline
	}
	pv := viewOf(p, lc)
	fillParent(&pv, kids, lc)
	parent := store.NewOrder{Order: p, Steps: append(f.steps, s.levelEvents(p, stock.ReserveRequest{}, f.applied)),
		History: store.OrderHistory{OrderID: p.ID, Version: 1, Event: lifecycle.EventPlace, FromState: lc.Initial(), ToState: p.Status,
			Actor: f.buyer.ID, CreatedAt: f.now},
		Traces: traces(p.ID, op.Trace()),
		Events: append([]store.OutboxEvent{ofOrder(event(TopicPlaced, p.ID, pv, f.now), p.BizCode, 1)}, couponEvents(p, f.applied)...)}
	if f.idem != nil {
		parent.Idempotency = &store.IdempotencyResult{Principal: f.idem.Principal, Key: f.idem.Key, StatusCode: 201, Body: pv.JSON()}
	}
	for i, k := range kids {
		news[i].Order = k
		kv := viewOf(k, lc)
		subOrderView(&kv)
		news[i].Events = []store.OutboxEvent{ofOrder(event(TopicPlaced, k.ID, kv, f.now), k.BizCode, 1)}
	}
	return s.store.CreateFamily(op.Context(), parent, news)
}

// parentStatus derives a parent's status from its sub-orders'.
func parentStatus(lc *lifecycle.Compiled, kids []store.Order) string {
	ended := func(st string) bool {
		if lc == nil {
			return stockBucket(st) == "sellable" || st == lifecycle.Completed || st == lifecycle.InboundFailed
		}
		return lc.IsTerminal(st) || len(lc.Allowed(st)) == 0
	}
	open, completed, same := false, false, true
	for _, k := range kids {
		switch {
		case k.Status == lifecycle.Created || k.Status == lifecycle.PendingPayment:
			return k.Status
		case !ended(k.Status):
			open = true
		case k.Status == lifecycle.Completed:
			completed = true
		}
		if k.Status != kids[0].Status {
			same = false
		}
	}
	switch {
	case len(kids) == 0:
		return ""
	case open:
		return StatusPaid
	case completed:
		return lifecycle.Completed
	case same:
		return kids[0].Status
	}
	return lifecycle.Cancelled
}

// fillParent completes a parent's view from its sub-orders: their
// summaries, the lines of all of them, and the events the parent takes
// (before payment its lifecycle's; after, every event a sub-order takes,
// which the parent passes on to the sub-orders that take it).
func fillParent(v *View, kids []store.Order, lc *lifecycle.Compiled) {
	v.SubOrders = make([]SubOrderView, 0, len(kids))
	v.Items = v.Items[:0]
	var allowed []string
	for _, k := range kids {
		kv := viewOf(k, lc)
		v.SubOrders = append(v.SubOrders, SubOrderView{ID: k.ID, Status: k.Status, Location: k.Location, Items: kv.Items, Amounts: kv.Amounts})
		v.Items = append(v.Items, kv.Items...)
		for _, e := range allowedOf(lc, k.Status) {
			if !slices.Contains(allowed, e) {
				allowed = append(allowed, e)
			}
		}
	}
	if v.Status != lifecycle.PendingPayment && v.Status != lifecycle.Created {
		slices.Sort(allowed)
		if allowed == nil {
			allowed = []string{}
		}
		v.AvailableEvents = allowed
	}
}

// subOrderView is a sub-order's view: before payment it takes no event of
// its own (its parent does).
func subOrderView(v *View) {
	if v.Status == lifecycle.PendingPayment || v.Status == lifecycle.Created {
		v.AvailableEvents = []string{}
	}
}

// withSubOrders completes the views of parents (and sub-orders) among vs.
func (s *Service) withSubOrders(ctx context.Context, vs []View) error {
	var parents []string
	for i := range vs {
		if vs[i].ParentID != "" {
			subOrderView(&vs[i])
		} else if vs[i].subOrders > 0 && vs[i].SubOrders == nil {
			parents = append(parents, vs[i].ID)
		}
	}
	if len(parents) == 0 {
		return nil
	}
	kids, err := s.store.SubOrdersOf(ctx, parents...)
	if err != nil {
		return err
	}
	for i := range vs {
		if k, ok := kids[vs[i].ID]; ok {
			fillParent(&vs[i], k, s.lifecycleOf(vs[i].BizCode))
		}
	}
	return nil
}

// innermost unwraps the commit errors of nested transitions to their cause.
func innermost(err error) error {
	for {
		var c *lifecycle.CommitError
		if !errors.As(err, &c) || c.Cause == nil {
			return err
		}
		err = c.Cause
	}
}

// fireParent fires an event on a parent: through the lifecycle of every
// sub-order that takes it, nested so that the guards of all run before
// anything is written and a refusal of one compensates the effects of the
// others; then ONE transaction moves them all and derives the parent.
// Payment-level writes (a card capture, agent credit, coupons, budgets)
// are the parent's.
func (s *Service) fireParent(ctx context.Context, p store.Order, ev Event) (View, error) {
	op, err := s.kernel.Continue(ctx, identity.Code(p.BizCode))
	if err != nil {
		return View{}, &Error{Code: CodeIdentity, Message: err.Error(), Err: err}
	}
	lc := op.Plan().Lifecycle()
	fam, err := s.store.SubOrdersOf(ctx, p.ID)
	if err != nil {
		return View{}, err
	}
	var targets []store.Order
	for _, k := range fam[p.ID] {
		if slices.Contains(lc.Allowed(k.Status), ev.Name) {
			targets = append(targets, k)
		}
	}
	if len(targets) == 0 {
		v := viewOf(p, lc)
		fillParent(&v, fam[p.ID], lc)
		return View{}, refuse(CodeEventNotAllowed, map[string]any{"status": p.Status, "allowedEvents": v.AvailableEvents},
			"event %q is not allowed: no sub-order of %s takes it", ev.Name, p.ID)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	trs := make([]store.Transition, len(targets))
	var from, to string
	var fire func(i int) error
	fire = func(i int) error {
		if i == len(targets) {
			pc := s.parentChange(p, lc, ev, now)
			pc.Steps = append(slices.Clone(ev.steps), parentSteps(p, from, to)...)
			_, _, err := s.store.TransitionFamily(ctx, pc, trs)
			return err
		}
		k := targets[i]
		start := len(op.Trace())
		snap := Snapshot{ID: k.ID, BizCode: k.BizCode, BuyerID: k.BuyerID, State: k.Status, Version: k.Version,
			Total: extensions.Money{Amount: k.Total, Currency: k.Currency}, Attributes: attributesOf(k)}
		_, err := Fire(op, snap, ev, func(ctx context.Context, t lifecycle.Transition) error {
			if i == 0 {
				from, to = t.From, t.To
			}
			trs[i] = s.subOrderTransition(k, t, ev, op.Trace()[start:], op.Plan(), now)
			return fire(i + 1)
		})
		return err
	}
	if err := fire(0); err != nil {
		return View{}, transitionError(innermost(err))
	}
	for _, k := range targets {
		s.settleStock(ctx, k.ID)
	}
	return s.Get(ctx, p.ID)
}

// fireSubOrder fires an event on a sub-order after payment; before, its
// parent takes the events (the order is paid, cancelled or timed out
// whole).
func (s *Service) fireSubOrder(ctx context.Context, k store.Order, ev Event) (View, error) {
	op, err := s.kernel.Continue(ctx, identity.Code(k.BizCode))
	if err != nil {
		return View{}, &Error{Code: CodeIdentity, Message: err.Error(), Err: err}
	}
	lc := op.Plan().Lifecycle()
	if k.Status == lifecycle.PendingPayment || k.Status == lifecycle.Created {
		return View{}, refuse(CodeEventNotAllowed, map[string]any{"status": k.Status, "allowedEvents": []string{}, "parentId": k.ParentID},
			"sub-order %s is %s: it is paid, cancelled and timed out with its parent %s", k.ID, k.Status, k.ParentID)
	}
	p, err := s.load(ctx, k.ParentID)
	if err != nil {
		return View{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	snap := Snapshot{ID: k.ID, BizCode: k.BizCode, BuyerID: k.BuyerID, State: k.Status, Version: k.Version,
		Total: extensions.Money{Amount: k.Total, Currency: k.Currency}, Attributes: attributesOf(k)}
	var updated []store.Order
	_, err = Fire(op, snap, ev, func(ctx context.Context, t lifecycle.Transition) error {
		tr := s.subOrderTransition(k, t, ev, op.Trace(), op.Plan(), now)
		tr.Steps = append(slices.Clone(ev.steps), tr.Steps...)
		var err error
		_, updated, err = s.store.TransitionFamily(ctx, s.parentChange(p, lc, ev, now), []store.Transition{tr})
		return err
	})
	if err != nil {
		return View{}, transitionError(err)
	}
	s.settleStock(ctx, k.ID)
	v := viewOf(updated[0], lc)
	subOrderView(&v)
	return v, nil
}

// subOrderTransition is the store transition of a sub-order: its stock
// moves, and the refund of its share of the parent's charge when it ends
// paid and unshipped.
func (s *Service) subOrderTransition(k store.Order, t lifecycle.Transition, ev Event, recs []kernel.Record, plan *kernel.Plan, now time.Time) store.Transition {
	lc := plan.Lifecycle()
	next := k
	next.Status, next.Version, next.UpdatedAt = t.To, k.Version+1, now
	view := viewOf(next, lc)
	subOrderView(&view)
	tr := store.Transition{OrderID: k.ID, ExpectVersion: k.Version, To: t.To,
		History: store.OrderHistory{OrderID: k.ID, Version: k.Version + 1, Event: t.Event, FromState: t.From, ToState: t.To,
			Actor: ev.Actor, Reason: ev.Data["reason"], CreatedAt: now},
		Traces: traces(k.ID, recs),
		Events: []store.OutboxEvent{event(events.TransitionType(t.Event, t.To), k.ID, transitionPayload(t, ev, view), now)},
	}
	for _, kind := range stockKinds(t.From, t.To) {
		tr.Steps = append(tr.Steps, s.stock.Move(k.ID, kind))
	}
	// A sub-order of virtual goods is fulfilled on its own: paying the
	// parent dispatches each sub-order to its supplier.
	tr.Steps = append(tr.Steps, fulfilmentSteps(plan, k, t.To, now)...)
	// A sub-order that ends unshipped gives back what its own lines counted
	// against purchase limits (recorded on its id at placement), once:
	// whether it ends alone after payment or with its parent before.
	if a, b := stockBucket(t.From), stockBucket(t.To); (a == "reserved" || a == "frozen") && b == "sellable" {
		tr.Steps = append(tr.Steps, releaseStep(k.ID))
	}
	if r, ok := refundOnTransition(k, t.From, t.To); ok {
		// The sub-order's share of the parent's charge, under a key of its own.
		r.OrderID = k.ParentID
		if k.PaymentMethod == payment.MethodAgentCredit {
			tr.Steps = append(tr.Steps, creditRefundStep(r))
		} else {
			tr.Steps = append(tr.Steps, func(ctx context.Context, tx *gorm.DB) error { return s.oweRefund(ctx, tx, r) })
			tr.Events = append(tr.Events, event(TopicRefundDue, k.ID, r, now))
		}
	}
	stampAll(tr.Events, k.BizCode, next.Version)
	return tr
}

// parentChange derives the parent after a change of its sub-orders and,
// when its status moves, writes its history and its typed event.
func (s *Service) parentChange(p store.Order, lc *lifecycle.Compiled, ev Event, now time.Time) store.ParentChange {
	return store.ParentChange{ParentID: p.ID,
		Derive: func(kids []store.Order) string { return parentStatus(lc, kids) },
		Then: func(cur store.Order, kids []store.Order, from, to string) (store.OrderHistory, []store.OutboxEvent) {
			// The parent's events carry its view as GET answers it: every
			// sub-order's lines as items, and the sub-orders.
			v := viewOf(cur, lc)
			fillParent(&v, kids, lc)
			t := lifecycle.Transition{Event: ev.Name, From: from, To: to}
			typ := events.TransitionType(ev.Name, to)
			if to == StatusPaid {
				typ = events.OrderPaid
			}
			e := ofOrder(event(typ, p.ID, transitionPayload(t, ev, v), now), p.BizCode, cur.Version)
			return store.OrderHistory{Event: ev.Name, Actor: ev.Actor, Reason: ev.Data["reason"], CreatedAt: now}, []store.OutboxEvent{e}
		},
	}
}

// parentSteps are the parent's writes when its sub-orders move together
// from → to: paying captures the reserved agent credit; ending unpaid
// gives back coupons, budgets and credit. (Purchase-limit claims are the
// sub-orders': each gives back its own in subOrderTransition.)
func parentSteps(p store.Order, from, to string) []store.Step {
	var steps []store.Step
	a, b := stockBucket(from), stockBucket(to)
	credit := p.PaymentMethod == payment.MethodAgentCredit
	switch {
	case a == "reserved" && b == "sellable":
		steps = append(steps, func(ctx context.Context, tx *gorm.DB) error { return promotion.Release(ctx, tx, p.ID) })
		if credit {
			steps = append(steps, func(ctx context.Context, tx *gorm.DB) error { return payment.ReleaseCredit(ctx, tx, p.ID) })
		}
	case a == "reserved" && (b == "frozen" || b == "shipped") && credit:
		steps = append(steps, func(ctx context.Context, tx *gorm.DB) error {
			_, err := payment.CaptureCredit(ctx, tx, p.ID)
			return err
		})
	}
	return steps
}

// moneyOwner is the order whose payments an order's money is: its parent
// for a sub-order.
func moneyOwner(o store.Order) string {
	if o.ParentID != "" {
		return o.ParentID
	}
	return o.ID
}
