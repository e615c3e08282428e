package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// ReturnExceedsError refuses a return of more than an order line has left
// to return: what earlier returns took back or still ask for (every return
// not rejected or cancelled) counts.
type ReturnExceedsError struct {
	OrderID   string
	LineNo    int
	SKU       string
	Requested int64
	Left      int64
}

func (e *ReturnExceedsError) Error() string {
	return fmt.Sprintf("order %s line %d (%s): %d to return, %d left", e.OrderID, e.LineNo, e.SKU, e.Requested, e.Left)
}

// ReturnStateError refuses a step of a return that its state does not
// allow (approving a rejected return, cancelling a received one).
type ReturnStateError struct {
	OrderID  string
	ReturnID string
	State    string
	To       string
}

func (e *ReturnStateError) Error() string {
	return fmt.Sprintf("return %s of order %s is %s: it cannot become %s", e.ReturnID, e.OrderID, e.State, e.To)
}

// ErrReturnNotFound: the order exists but has no return of that id. It
// matches ErrNotFound too.
var ErrReturnNotFound = fmt.Errorf("%w: return", ErrNotFound)

// NewReturn is a return RecordReturn opens.
type NewReturn struct {
	OrderID  string
	ReturnID string
	Actor    string
	// Lines name LineNo and Quantity (> 0), one per line.
	Lines []OrderReturn
	// Then gives the domain steps and outbox events of opening the return,
	// knowing it as written; they run in the same transaction.
	Then func(r OrderReturnRequest) ([]Step, []OutboxEvent)
}

// open reports whether a return in state still holds its quantities.
func open(state string) bool { return state != ReturnRejected && state != ReturnCancelled }

// RecordReturn opens a return (state requested) in ONE transaction: it
// locks the order's row, answers an existing return with the same ReturnID
// as it is (replayed = true, nothing written), refuses more than a line has
// left (*ReturnExceedsError), writes the return's head, lines (refund 0
// until it is received) and first step, and runs its steps and events.
func (s *Store) RecordReturn(ctx context.Context, r NewReturn) (out OrderReturnRequest, replayed bool, err error) {
	if err := errors.Join(checkKey("order id", r.OrderID, maxOrderID), checkKey("return id", r.ReturnID, 128)); err != nil {
		return OrderReturnRequest{}, false, fmt.Errorf("store: return: %w", err)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		out, replayed = OrderReturnRequest{}, false
		if err := lockOrder(tx, r.OrderID); err != nil {
			return err
		}
		all, err := orderReturns(tx, r.OrderID)
		if err != nil {
			return err
		}
		before := map[int]int64{}
		for _, e := range all {
			if e.ReturnID == r.ReturnID {
				out, replayed = e, true
				return nil
			}
			if open(e.State) {
				for _, l := range e.Lines {
					before[l.LineNo] += l.Quantity
				}
			}
		}
		o, err := getOrder(tx, r.OrderID)
		if err != nil {
			return err
		}
		out = OrderReturnRequest{OrderID: r.OrderID, ReturnID: r.ReturnID, State: ReturnRequested, RequestedBy: r.Actor,
			CreatedAt: now, UpdatedAt: now}
		for _, want := range r.Lines {
			i := slices.IndexFunc(o.Lines, func(l OrderLine) bool { return l.LineNo == want.LineNo })
			if i < 0 || want.Quantity <= 0 {
				return invalid("order %s has no line %d to return %d of", r.OrderID, want.LineNo, want.Quantity)
			}
			line := o.Lines[i]
			if left := line.Quantity - before[line.LineNo]; want.Quantity > left {
				return &ReturnExceedsError{OrderID: r.OrderID, LineNo: line.LineNo, SKU: line.SKU, Requested: want.Quantity, Left: left}
			}
			out.Lines = append(out.Lines, OrderReturn{OrderID: r.OrderID, ReturnID: r.ReturnID, LineNo: line.LineNo, SKU: line.SKU,
				Quantity: want.Quantity, Actor: r.Actor, CreatedAt: now})
		}
		if len(out.Lines) == 0 {
			return invalid("return %s names no line", r.ReturnID)
		}
		if err := tx.Create(&out).Error; err != nil {
			return fmt.Errorf("insert return: %w", err)
		}
		if err := tx.Create(&out.Lines).Error; err != nil {
			return fmt.Errorf("insert return lines: %w", err)
		}
		step := OrderReturnStep{OrderID: r.OrderID, ReturnID: r.ReturnID, ToState: ReturnRequested, Actor: r.Actor, CreatedAt: now}
		if err := tx.Create(&step).Error; err != nil {
			return fmt.Errorf("insert return step: %w", err)
		}
		out.History = []OrderReturnStep{step}
		var steps []Step
		var events []OutboxEvent
		if r.Then != nil {
			steps, events = r.Then(out)
		}
		return runStepsEvents(ctx, tx, r.OrderID, steps, events, now)
	})
	if err != nil {
		return OrderReturnRequest{}, false, fmt.Errorf("store: return %s of order %s: %w", r.ReturnID, r.OrderID, err)
	}
	return out, replayed, nil
}

// ReturnMove is one step of a return MoveReturn makes.
type ReturnMove struct {
	OrderID  string
	ReturnID string
	// To is the state the return moves to; From the states it may move
	// from. A return already in To is answered as it is (replayed).
	To     string
	From   []string
	Actor  string
	Reason string
	// RefundOf, when set, computes each line's refund at this step: the
	// refund of qty units of line, given how many of its units returns
	// received earlier took back.
	RefundOf func(line OrderLine, returnedBefore, qty int64) int64
	// Then gives the domain steps and outbox events of the step, knowing
	// the return after it (with its refunds); they run in the same
	// transaction.
	Then func(r OrderReturnRequest) ([]Step, []OutboxEvent)
	// Audit, when set, is saved in the same transaction with the return
	// before and after the step as its Before and After.
	Audit *AuditEntry
}

// MoveReturn moves a return from one state to another in ONE
// transaction: it locks the order's row, answers a return already in To
// as it is (replayed = true, nothing written), refuses a state not in From
// (*ReturnStateError), computes refunds (RefundOf), writes the new state,
// the step, the audit entry, and runs the step's domain steps and events.
// An unknown return is ErrReturnNotFound, an unknown order ErrNotFound.
func (s *Store) MoveReturn(ctx context.Context, m ReturnMove) (out OrderReturnRequest, replayed bool, err error) {
	if err := errors.Join(checkKey("order id", m.OrderID, maxOrderID), checkKey("return id", m.ReturnID, 128),
		checkKey("state", m.To, 16)); err != nil {
		return OrderReturnRequest{}, false, fmt.Errorf("store: return step: %w", err)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		out, replayed = OrderReturnRequest{}, false
		if err := lockOrder(tx, m.OrderID); err != nil {
			return err
		}
		all, err := orderReturns(tx, m.OrderID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(r OrderReturnRequest) bool { return r.ReturnID == m.ReturnID })
		if i < 0 {
			return ErrReturnNotFound
		}
		before := all[i]
		if before.State == m.To {
			out, replayed = before, true
			return nil
		}
		if !slices.Contains(m.From, before.State) {
			return &ReturnStateError{OrderID: m.OrderID, ReturnID: m.ReturnID, State: before.State, To: m.To}
		}
		out = before
		out.Lines = slices.Clone(before.Lines)
		out.State, out.UpdatedAt = m.To, now
		if m.Reason != "" {
			out.Reason = m.Reason
		}
		if m.RefundOf != nil {
			o, err := getOrder(tx, m.OrderID)
			if err != nil {
				return err
			}
			received := map[int]int64{}
			for _, r := range all {
				if r.State == ReturnReceived {
					for _, l := range r.Lines {
						received[l.LineNo] += l.Quantity
					}
				}
			}
			for j, l := range out.Lines {
				k := slices.IndexFunc(o.Lines, func(ol OrderLine) bool { return ol.LineNo == l.LineNo })
				if k < 0 {
					return invalid("order %s has no line %d", m.OrderID, l.LineNo)
				}
				out.Lines[j].Refund = m.RefundOf(o.Lines[k], received[l.LineNo], l.Quantity)
				if err := tx.Model(&OrderReturn{}).Where("order_id = ? AND return_id = ? AND line_no = ?", m.OrderID, m.ReturnID, l.LineNo).
					Update("refund", out.Lines[j].Refund).Error; err != nil {
					return fmt.Errorf("refund of line %d: %w", l.LineNo, err)
				}
			}
		}
		res := tx.Model(&OrderReturnRequest{}).Where("order_id = ? AND return_id = ? AND state = ?", m.OrderID, m.ReturnID, before.State).
			Updates(map[string]any{"state": out.State, "reason": out.Reason, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("update return: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			// The order's row lock serialises steps; a head that changed
			// under it is a bug, not a race to retry.
			return fmt.Errorf("update return: %d rows changed", res.RowsAffected)
		}
		step := OrderReturnStep{OrderID: m.OrderID, ReturnID: m.ReturnID, FromState: before.State, ToState: m.To, Actor: m.Actor,
			Reason: m.Reason, CreatedAt: now}
		if err := tx.Create(&step).Error; err != nil {
			return fmt.Errorf("insert return step: %w", err)
		}
		out.History = append(slices.Clone(before.History), step)
		if m.Audit != nil {
			e := *m.Audit
			e.Before, e.After = auditedReturn(before), auditedReturn(out)
			if err := s.insertAudit(tx, []AuditEntry{e}); err != nil {
				return err
			}
		}
		var steps []Step
		var events []OutboxEvent
		if m.Then != nil {
			steps, events = m.Then(out)
		}
		return runStepsEvents(ctx, tx, m.OrderID, steps, events, now)
	})
	if err != nil {
		return OrderReturnRequest{}, false, fmt.Errorf("store: return %s of order %s to %s: %w", m.ReturnID, m.OrderID, m.To, err)
	}
	return out, replayed, nil
}

// auditedReturn is what the audit log keeps of a return: its head and
// lines, without its history (the log is the history of the changes).
func auditedReturn(r OrderReturnRequest) json.RawMessage {
	r.History = nil
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // plain strings, numbers and times
	}
	return b
}

// lockOrder takes the order's row lock for the rest of the transaction, so
// that the steps of its returns are serialised; ErrNotFound if it does
// not exist.
func lockOrder(tx *gorm.DB, orderID string) error {
	res := tx.Exec("UPDATE tmf_orders SET updated_at = updated_at WHERE id = ?", orderID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		// MySQL counts changed rows, not matched ones.
		var n int64
		if err := tx.Model(&Order{}).Where("id = ?", orderID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
	}
	return nil
}

func runStepsEvents(ctx context.Context, tx *gorm.DB, orderID string, steps []Step, events []OutboxEvent, now time.Time) error {
	if err := runSteps(ctx, tx, steps); err != nil {
		return err
	}
	evs, err := prepareEvents(orderID, events, now)
	if err != nil {
		return err
	}
	return insertTracesEvents(tx, nil, evs)
}

// orderReturns reads an order's returns with their lines and history,
// oldest first. Lines without a head (returns recorded before returns were
// requests, refunded at once) are shown as received.
func orderReturns(db *gorm.DB, orderID string) ([]OrderReturnRequest, error) {
	var heads []OrderReturnRequest
	if err := db.Where("order_id = ?", orderID).Order("created_at").Order("return_id").Find(&heads).Error; err != nil {
		return nil, err
	}
	var lines []OrderReturn
	if err := db.Where("order_id = ?", orderID).Order("created_at").Order("return_id").Order("line_no").Find(&lines).Error; err != nil {
		return nil, err
	}
	var steps []OrderReturnStep
	if err := db.Where("order_id = ?", orderID).Order("id").Find(&steps).Error; err != nil {
		return nil, err
	}
	byID := map[string]int{}
	for i := range heads {
		heads[i].CreatedAt, heads[i].UpdatedAt = stamp(heads[i].CreatedAt), stamp(heads[i].UpdatedAt)
		byID[heads[i].ReturnID] = i
	}
	for _, l := range lines {
		l.CreatedAt = stamp(l.CreatedAt)
		i, ok := byID[l.ReturnID]
		if !ok {
			i = len(heads)
			byID[l.ReturnID] = i
			heads = append(heads, OrderReturnRequest{OrderID: orderID, ReturnID: l.ReturnID, State: ReturnReceived,
				RequestedBy: l.Actor, CreatedAt: l.CreatedAt, UpdatedAt: l.CreatedAt,
				History: []OrderReturnStep{{ToState: ReturnReceived, Actor: l.Actor, CreatedAt: l.CreatedAt}}})
		}
		heads[i].Lines = append(heads[i].Lines, l)
	}
	for _, st := range steps {
		st.CreatedAt = stamp(st.CreatedAt)
		if i, ok := byID[st.ReturnID]; ok {
			heads[i].History = append(heads[i].History, st)
		}
	}
	slices.SortStableFunc(heads, func(a, b OrderReturnRequest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return heads, nil
}

// Returns returns an order's returns with their lines and history, oldest
// first; none for an order without returns (or one that does not exist).
func (s *Store) Returns(ctx context.Context, orderID string) ([]OrderReturnRequest, error) {
	out, err := orderReturns(s.db.WithContext(ctx), orderID)
	if err != nil {
		return nil, fmt.Errorf("store: returns of order %s: %w", orderID, err)
	}
	return out, nil
}

// OrderReturns returns the return lines of an order, oldest first.
func (s *Store) OrderReturns(ctx context.Context, orderID string) ([]OrderReturn, error) {
	var out []OrderReturn
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Order("created_at").Order("return_id").Order("line_no").
		Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: returns of order %s: %w", orderID, err)
	}
	for i := range out {
		out[i].CreatedAt = stamp(out[i].CreatedAt)
	}
	return out, nil
}
