package order

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// Outbox topics of returns, one per step; order.returned is the receipt,
// with its refund.
const (
	TopicReturnRequested = events.OrderReturnRequested
	TopicReturnApproved  = events.OrderReturnApproved
	TopicReturnRejected  = events.OrderReturnRejected
	TopicReturned        = events.OrderReturned
	TopicReturnCancelled = events.OrderReturnCancelled
)

// Steps of a return after it was opened.
const (
	ReturnApprove = "approve"
	ReturnReject  = "reject"
	ReturnReceive = "receive"
	ReturnCancel  = "cancel"
)

// returnSteps is the table of a return's states: each step, the state it
// leads to and the states it may start from. Opening leads to requested.
var returnSteps = map[string]struct {
	to    string
	from  []string
	topic string
}{
	ReturnApprove: {store.ReturnApproved, []string{store.ReturnRequested}, TopicReturnApproved},
	ReturnReject:  {store.ReturnRejected, []string{store.ReturnRequested}, TopicReturnRejected},
	ReturnReceive: {store.ReturnReceived, []string{store.ReturnApproved}, TopicReturned},
	ReturnCancel:  {store.ReturnCancelled, []string{store.ReturnRequested, store.ReturnApproved}, TopicReturnCancelled},
}

// ReturnItem is one SKU of a return and how many units are asked back.
type ReturnItem struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// ReturnRequest opens a return of part or all of a shipped order.
type ReturnRequest struct {
	// ReturnID is the caller's idempotency key of the return: the same id
	// is the same return, opened once.
	ReturnID string
	Items    []ReturnItem
	Actor    string
}

// ReturnView is a return as the API shows it.
type ReturnView struct {
	OrderID  string `json:"orderId"`
	ReturnID string `json:"returnId"`
	// State is requested, approved, rejected, received or cancelled.
	State       string              `json:"state"`
	RequestedBy string              `json:"requestedBy,omitempty"`
	Reason      string              `json:"reason,omitempty"`
	Lines       []store.OrderReturn `json:"lines"`
	// Refund is the sum of the lines' refunds, in minor units of Currency:
	// 0 until the return is received.
	Refund    int64                   `json:"refund"`
	Currency  string                  `json:"currency"`
	At        time.Time               `json:"createdAt"`
	UpdatedAt time.Time               `json:"updatedAt"`
	History   []store.OrderReturnStep `json:"history"`
	// Replayed is true when the step had been made by an earlier request
	// (the same return id opened, the same step taken).
	Replayed bool `json:"-"`
}

func returnView(o store.Order, r store.OrderReturnRequest, replayed bool) ReturnView {
	v := ReturnView{OrderID: o.ID, ReturnID: r.ReturnID, State: r.State, RequestedBy: r.RequestedBy, Reason: r.Reason,
		Lines: r.Lines, Currency: o.Currency, At: r.CreatedAt, UpdatedAt: r.UpdatedAt, History: r.History, Replayed: replayed}
	if v.Lines == nil {
		v.Lines = []store.OrderReturn{}
	}
	if v.History == nil {
		v.History = []store.OrderReturnStep{}
	}
	for _, l := range r.Lines {
		v.Refund += l.Refund
	}
	return v
}

// Return opens a return (state requested) of units of a shipped order
// (pending inbound, completed or inbound failed): nothing is refunded and
// no stock moves until an operator approves it and confirms the goods came
// back (ReturnStep receive). Open returns count against what can still be
// returned, so returns never add up to more than was bought. A return is
// opened at most the identity's return window after the goods arrived
// (the order entered completed or inbound failed); while they are in
// transit the window has not begun. The same ReturnID answers the return
// already opened (Replayed), whatever the window.
func (s *Service) Return(ctx context.Context, id string, req ReturnRequest) (ReturnView, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return ReturnView{}, err
	}
	if strings.TrimSpace(req.ReturnID) == "" {
		return ReturnView{}, refuse(CodeReturnInvalid, nil, "a return needs an id (its idempotency key)")
	}
	existing, err := s.store.Returns(ctx, id)
	if err != nil {
		return ReturnView{}, err
	}
	for _, r := range existing {
		if r.ReturnID == req.ReturnID {
			return returnView(o, r, true), nil
		}
	}
	if stockBucket(o.Status) != "shipped" {
		return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"status": o.Status},
			"order %s is %s: only shipped orders take returns", id, o.Status)
	}
	if err := s.checkReturnWindow(ctx, o); err != nil {
		return ReturnView{}, err
	}
	if len(req.Items) == 0 {
		return ReturnView{}, refuse(CodeReturnInvalid, nil, "a return needs at least one item")
	}
	var lines []store.OrderReturn
	seen := map[string]bool{}
	for _, it := range req.Items {
		if seen[it.SKU] {
			return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"sku": it.SKU}, "SKU %s appears twice in the return", it.SKU)
		}
		seen[it.SKU] = true
		var line *store.OrderLine
		for i := range o.Lines {
			if o.Lines[i].SKU == it.SKU {
				line = &o.Lines[i]
			}
		}
		if line == nil {
			return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"sku": it.SKU}, "order %s has no line of SKU %s", id, it.SKU)
		}
		if it.Quantity <= 0 {
			return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"sku": it.SKU}, "item %s: quantity %d must be at least 1", it.SKU, it.Quantity)
		}
		lines = append(lines, store.OrderReturn{LineNo: line.LineNo, SKU: line.SKU, Quantity: it.Quantity})
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	r, replayed, err := s.store.RecordReturn(ctx, store.NewReturn{OrderID: id, ReturnID: req.ReturnID, Actor: req.Actor, Lines: lines,
		Then: func(r store.OrderReturnRequest) ([]store.Step, []store.OutboxEvent) {
			return nil, []store.OutboxEvent{ofOrder(event(TopicReturnRequested, id, map[string]any{"orderId": id, "returnId": r.ReturnID,
				"lines": r.Lines, "actor": req.Actor}, now), o.BizCode, o.Version)}
		}})
	if err != nil {
		return ReturnView{}, returnError(err)
	}
	return returnView(o, r, replayed), nil
}

// checkReturnWindow refuses a return of an order delivered longer ago than
// its identity's return window (return_window_closed). The window runs
// from the order's entry into its current state once the goods arrived
// (completed, inbound failed); an order still in transit is always open.
func (s *Service) checkReturnWindow(ctx context.Context, o store.Order) error {
	if o.Status == lifecycle.PendingInbound {
		return nil
	}
	window := kernel.DefaultReturnWindow
	if p, ok := s.kernel.Plans().Plan(identity.Code(o.BizCode)); ok {
		window = p.ReturnWindow()
	}
	hist, err := s.store.OrderHistory(ctx, o.ID)
	if err != nil {
		return err
	}
	var arrived time.Time
	for _, h := range hist {
		if h.ToState == o.Status {
			arrived = h.CreatedAt
		}
	}
	if arrived.IsZero() {
		return nil // no record of the arrival: nothing to count from
	}
	closes := arrived.Add(window)
	if s.now().After(closes) {
		return refuse(CodeReturnWindowClosed, map[string]any{"arrivedAt": arrived, "returnWindow": window.String(), "closedAt": closes},
			"order %s arrived at %s: returns closed %s after, at %s", o.ID, arrived.Format(time.RFC3339), window, closes.Format(time.RFC3339))
	}
	return nil
}

// ReturnStepRequest takes a step of an open return.
type ReturnStepRequest struct {
	ReturnID string
	// Step is approve, reject, receive or cancel.
	Step   string
	Actor  string
	Reason string
	// Audit, when set, is saved with the step in its transaction, the
	// return before and after it as Before and After.
	Audit *store.AuditEntry
}

// ReturnStep moves a return: approve or reject a requested one, receive
// an approved one, cancel one requested or approved. Receiving is where
// the refund and the restock happen, in the transaction that records it:
// stock goes from shipped to sellable and the buyer is refunded what the
// units cost after the order's discount — per line, the received share of
// (line total − line discount), rounded down except that the last unit
// back makes the line's refunds add up to exactly what the line cost.
// Freight is not refunded. Repeating the step the return last took
// answers it as it is (Replayed); a step its state does not allow is
// return_state.
func (s *Service) ReturnStep(ctx context.Context, id string, req ReturnStepRequest) (ReturnView, error) {
	st, ok := returnSteps[req.Step]
	if !ok {
		return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"step": req.Step}, "%q is not a step of a return", req.Step)
	}
	if req.Step == ReturnReject && strings.TrimSpace(req.Reason) == "" {
		return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"field": "reason"}, "a rejection needs a reason")
	}
	o, err := s.load(ctx, id)
	if err != nil {
		return ReturnView{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	m := store.ReturnMove{OrderID: id, ReturnID: req.ReturnID, To: st.to, From: st.from, Actor: req.Actor, Reason: req.Reason, Audit: req.Audit}
	m.Then = func(r store.OrderReturnRequest) ([]store.Step, []store.OutboxEvent) {
		payload := map[string]any{"orderId": id, "returnId": r.ReturnID, "actor": req.Actor}
		if req.Reason != "" {
			payload["reason"] = req.Reason
		}
		// A return leaves the order's version alone: its events carry the
		// version the order has.
		if req.Step != ReturnReceive {
			return nil, []store.OutboxEvent{ofOrder(event(st.topic, id, payload, now), o.BizCode, o.Version)}
		}
		var total int64
		back := stock.ReturnRequest{OrderID: id, ReturnID: r.ReturnID}
		for _, l := range r.Lines {
			total += l.Refund
			back.Lines = append(back.Lines, stock.LineQty{LineNo: l.LineNo, SKU: l.SKU, Quantity: l.Quantity})
		}
		payload["lines"], payload["refund"], payload["currency"] = r.Lines, total, o.Currency
		steps := []store.Step{s.stock.Return(back)}
		events := []store.OutboxEvent{event(TopicReturned, id, payload, now)}
		if total > 0 {
			rs, revs := s.refundSteps(o, RefundDue{OrderID: moneyOwner(o), Key: id + "/refund/return/" + r.ReturnID, Amount: total,
				Currency: o.Currency, Reason: "return " + r.ReturnID}, now)
			steps, events = append(steps, rs...), append(events, revs...)
		}
		stampAll(events, o.BizCode, o.Version)
		return steps, events
	}
	if req.Step == ReturnReceive {
		m.RefundOf = returnRefund
	}
	r, replayed, err := s.store.MoveReturn(ctx, m)
	if err != nil {
		return ReturnView{}, returnError(err)
	}
	if req.Step == ReturnReceive {
		s.settleStock(ctx, id)
	}
	return returnView(o, r, replayed), nil
}

// returnRefund is what qty units of line refund after returnedBefore units
// came back earlier: the cumulative share floor(net × returned / quantity)
// minus what earlier returns refunded, so that returning every unit, in any
// steps, refunds exactly the line's net amount.
func returnRefund(line store.OrderLine, returnedBefore, qty int64) int64 {
	net := line.LineTotal - line.Discount
	if net <= 0 || line.Quantity <= 0 {
		return 0
	}
	share := func(n int64) int64 {
		v := new(big.Int).Mul(big.NewInt(net), big.NewInt(n))
		return v.Quo(v, big.NewInt(line.Quantity)).Int64()
	}
	return share(returnedBefore+qty) - share(returnedBefore)
}

func returnError(err error) error {
	var exceeds *store.ReturnExceedsError
	var state *store.ReturnStateError
	var stockReturn *stock.ReturnError
	switch {
	case errors.As(err, &exceeds):
		return &Error{Code: CodeReturnInvalid, Message: fmt.Sprintf("SKU %s: %d to return, only %d left", exceeds.SKU, exceeds.Requested, exceeds.Left),
			Fields: map[string]any{"sku": exceeds.SKU, "left": exceeds.Left}, Err: err}
	case errors.As(err, &state):
		return &Error{Code: CodeReturnState, Message: state.Error(), Fields: map[string]any{"returnId": state.ReturnID, "state": state.State},
			Err: err}
	case errors.As(err, &stockReturn):
		return &Error{Code: CodeReturnInvalid, Message: stockReturn.Error(), Fields: map[string]any{"sku": stockReturn.SKU}, Err: err}
	case errors.Is(err, store.ErrReturnNotFound):
		return &Error{Code: CodeReturnNotFound, Message: "return not found", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: "order not found", Err: err}
	}
	return err
}

// Returns lists an order's returns with their state and history, oldest
// first.
func (s *Service) Returns(ctx context.Context, id string) ([]ReturnView, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Returns(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []ReturnView{}
	for _, r := range rows {
		out = append(out, returnView(o, r, false))
	}
	return out, nil
}
