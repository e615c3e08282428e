package order

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// TopicReturned is the outbox topic of a (partial) return.
const TopicReturned = "order.returned"

// ReturnItem is one SKU of a return and how many units came back.
type ReturnItem struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// ReturnRequest returns part or all of a shipped order.
type ReturnRequest struct {
	// ReturnID is the caller's idempotency key of the return: the same id
	// is the same return, applied once.
	ReturnID string
	Items    []ReturnItem
	Actor    string
}

// ReturnView is a return as the API shows it.
type ReturnView struct {
	OrderID  string              `json:"orderId"`
	ReturnID string              `json:"returnId"`
	Lines    []store.OrderReturn `json:"lines"`
	// Refund is the sum of the lines' refunds, in minor units of Currency.
	Refund   int64     `json:"refund"`
	Currency string    `json:"currency"`
	At       time.Time `json:"createdAt"`
	// Replayed is true when the return had been applied by an earlier
	// request with the same id.
	Replayed bool `json:"-"`
}

// Return takes units of a shipped order back: stock goes from shipped to
// sellable (idempotent per return and line) and the buyer is refunded what
// the units cost after the order's discount — per line, the returned
// share of (line total − line discount), rounded down except that the
// last unit back makes the line's refunds add up to exactly what the line
// cost. Freight is not refunded. A card refund leaves through the outbox;
// agent credit comes back in the same transaction. The order's status does
// not change.
func (s *Service) Return(ctx context.Context, id string, req ReturnRequest) (ReturnView, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return ReturnView{}, err
	}
	if strings.TrimSpace(req.ReturnID) == "" {
		return ReturnView{}, refuse(CodeReturnInvalid, nil, "a return needs an id (its idempotency key)")
	}
	if stockBucket(o.Status) != "shipped" {
		return ReturnView{}, refuse(CodeReturnInvalid, map[string]any{"status": o.Status},
			"order %s is %s: only shipped orders take returns", id, o.Status)
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
	rows, replayed, err := s.store.RecordReturn(ctx, store.NewReturn{OrderID: id, ReturnID: req.ReturnID, Actor: req.Actor, Lines: lines,
		RefundOf: returnRefund,
		Then: func(rows []store.OrderReturn) ([]store.Step, []store.OutboxEvent) {
			var total int64
			back := stock.ReturnRequest{OrderID: id, ReturnID: req.ReturnID}
			for _, r := range rows {
				total += r.Refund
				back.Lines = append(back.Lines, stock.LineQty{LineNo: r.LineNo, SKU: r.SKU, Quantity: r.Quantity})
			}
			steps := []store.Step{func(ctx context.Context, tx *gorm.DB) error { return stock.Return(ctx, tx, back) }}
			events := []store.OutboxEvent{event(TopicReturned, id, map[string]any{"orderId": id, "returnId": req.ReturnID,
				"lines": rows, "refund": total, "currency": o.Currency, "actor": req.Actor}, now)}
			if total > 0 {
				refund := RefundDue{OrderID: id, Key: id + "/refund/return/" + req.ReturnID, Amount: total, Currency: o.Currency,
					Reason: "return " + req.ReturnID}
				more, evs := s.refundSteps(o, refund, now)
				steps, events = append(steps, more...), append(events, evs...)
			}
			return steps, events
		}})
	if err != nil {
		return ReturnView{}, returnError(err)
	}
	v := ReturnView{OrderID: id, ReturnID: req.ReturnID, Lines: rows, Currency: o.Currency, Replayed: replayed}
	for _, r := range rows {
		v.Refund += r.Refund
		v.At = r.CreatedAt
	}
	return v, nil
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
	var stockReturn *stock.ReturnError
	switch {
	case errors.As(err, &exceeds):
		return &Error{Code: CodeReturnInvalid, Message: fmt.Sprintf("SKU %s: %d to return, only %d left", exceeds.SKU, exceeds.Requested, exceeds.Left),
			Fields: map[string]any{"sku": exceeds.SKU, "left": exceeds.Left}, Err: err}
	case errors.As(err, &stockReturn):
		return &Error{Code: CodeReturnInvalid, Message: stockReturn.Error(), Fields: map[string]any{"sku": stockReturn.SKU}, Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: "order not found", Err: err}
	}
	return err
}

// Returns lists an order's returns, oldest first.
func (s *Service) Returns(ctx context.Context, id string) ([]ReturnView, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.OrderReturns(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []ReturnView{}
	for _, r := range rows {
		if n := len(out); n == 0 || out[n-1].ReturnID != r.ReturnID {
			out = append(out, ReturnView{OrderID: id, ReturnID: r.ReturnID, Currency: o.Currency, At: r.CreatedAt})
		}
		last := &out[len(out)-1]
		last.Lines = append(last.Lines, r)
		last.Refund += r.Refund
	}
	return out, nil
}
