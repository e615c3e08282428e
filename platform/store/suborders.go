package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Parent and sub-orders (reference 004 §2.2.1): an order whose lines ship
// apart is one parent row (SubOrders > 0, no lines) and its sub-orders
// (ParentID set, with the lines). The parent carries the payment; each
// sub-order has its own lifecycle, stock and history. Every change of a
// family locks the parent's row first, so that changes of one family are
// serialised and the parent's status, derived from its sub-orders, is
// computed from committed sub-orders only.

// FamilyFilter filters order lists on parents and sub-orders.
type FamilyFilter struct {
	// ParentID keeps the sub-orders of this parent.
	ParentID string
	// TopLevel leaves sub-orders out: orders that did not split and parents.
	TopLevel bool
}

func (q OrderQuery) familyFilter(tx *gorm.DB) *gorm.DB {
	if q.Family.ParentID != "" {
		tx = tx.Where("parent_id = ?", q.Family.ParentID)
	}
	if q.Family.TopLevel {
		tx = tx.Where("parent_id = ''")
	}
	return tx
}

// CreateFamily writes a parent order and its sub-orders in ONE transaction,
// each as CreateOrder writes one (the parent first, then the sub-orders in
// their order, each with its steps); nothing is written if any part fails.
// The parent's SubOrders and every sub-order's ParentID must be set.
func (s *Store) CreateFamily(ctx context.Context, parent NewOrder, children []NewOrder) error {
	if len(children) < 2 || parent.Order.SubOrders != len(children) {
		return fmt.Errorf("store: create family %s: %w", parent.Order.ID, invalid("a parent needs its count of at least two sub-orders"))
	}
	pp, err := s.prepareOrder(parent)
	if err != nil {
		return fmt.Errorf("store: create family: %w", err)
	}
	if len(pp.lines) > 0 {
		return fmt.Errorf("store: create family %s: %w", pp.order.ID, invalid("a parent holds no lines; its sub-orders do"))
	}
	prepared := make([]preparedOrder, len(children))
	for i, c := range children {
		if c.Order.ParentID != pp.order.ID || c.Order.SubOrders != 0 {
			return fmt.Errorf("store: create family %s: %w", pp.order.ID, invalid("sub-order %s does not name the parent", c.Order.ID))
		}
		if prepared[i], err = s.prepareOrder(c); err != nil {
			return fmt.Errorf("store: create family %s: %w", pp.order.ID, err)
		}
	}
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := pp.insert(ctx, tx); err != nil {
			return err
		}
		for _, p := range prepared {
			if err := p.insert(ctx, tx); err != nil {
				return fmt.Errorf("sub-order %s: %w", p.order.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create family %s: %w", pp.order.ID, err)
	}
	return nil
}

// ParentChange is what a change of sub-orders does to their parent, in the
// change's transaction.
type ParentChange struct {
	ParentID string
	// Derive is the parent's status given its sub-orders after the change
	// (id and status of each, by id).
	Derive func(children []Order) string
	// Then is the parent's history row and events when its status moves
	// from → to; parent is the parent after the change (its new status and
	// version), children its sub-orders after the change with their lines,
	// in id order (what the parent's events carry). Nil writes none.
	Then func(parent Order, children []Order, from, to string) (OrderHistory, []OutboxEvent)
	// Steps are the parent's own writes (a charge captured or credit taken
	// on the parent), run after the sub-orders' transitions.
	Steps []Step
}

// TransitionFamily applies transitions of sub-orders of one parent in ONE
// transaction: it locks the parent's row (its version moves on every
// change of the family), applies each transition as TransitionOrder does
// (ErrVersionConflict if a sub-order moved since it was read), runs the
// parent's steps, then derives the parent's status from its sub-orders and,
// when it changed, records it with its history and events. It returns the
// parent and the sub-orders as they are after the change.
func (s *Store) TransitionFamily(ctx context.Context, pc ParentChange, children []Transition) (Order, []Order, error) {
	fail := func(err error) (Order, []Order, error) {
		return Order{}, nil, fmt.Errorf("store: transition family %s: %w", pc.ParentID, err)
	}
	if pc.Derive == nil {
		return fail(invalid("no status derivation"))
	}
	prepared := make([]preparedTransition, len(children))
	for i, t := range children {
		p, err := s.prepareTransition(t)
		if err != nil {
			return fail(err)
		}
		prepared[i] = p
	}
	now := s.now()
	var parent Order
	var updated []Order
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		updated = updated[:0]
		// The parent's row first: it serialises the family. On MySQL this
		// locking statement also comes before the transaction's first
		// consistent read, so the siblings read below are the committed ones.
		res := tx.Exec("UPDATE tmf_orders SET version = version + 1, updated_at = ? WHERE id = ? AND sub_orders > 0", now, pc.ParentID)
		if res.Error != nil {
			return fmt.Errorf("lock parent: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		for _, p := range prepared {
			var parentOf []string
			if err := tx.Raw("SELECT parent_id FROM tmf_orders WHERE id = ?", p.t.OrderID).Scan(&parentOf).Error; err != nil {
				return err
			}
			if len(parentOf) == 0 || parentOf[0] != pc.ParentID {
				return fmt.Errorf("order %s: %w", p.t.OrderID, invalid("not a sub-order of %s", pc.ParentID))
			}
			o, err := p.apply(ctx, tx)
			if err != nil {
				return p.fail(err)
			}
			updated = append(updated, o)
		}
		if err := runSteps(ctx, tx, pc.Steps); err != nil {
			return err
		}
		var kids []Order
		if err := tx.Select("id", "status").Where("parent_id = ?", pc.ParentID).Order("id").Find(&kids).Error; err != nil {
			return fmt.Errorf("read sub-orders: %w", err)
		}
		cur, err := getOrder(tx, pc.ParentID)
		if err != nil {
			return err
		}
		to := pc.Derive(kids)
		if to == "" || to == cur.Status {
			parent = cur
			return nil
		}
		set := "status = ?"
		if cur.Status == StatusPendingPayment {
			set += ", payment_deadline = NULL"
		}
		if err := tx.Exec("UPDATE tmf_orders SET "+set+" WHERE id = ?", to, pc.ParentID).Error; err != nil {
			return fmt.Errorf("update parent: %w", err)
		}
		from := cur.Status
		if parent, err = getOrder(tx, pc.ParentID); err != nil {
			return err
		}
		if pc.Then == nil {
			return nil
		}
		var full []Order
		if err := tx.Where("parent_id = ?", pc.ParentID).Order("id").Find(&full).Error; err != nil {
			return fmt.Errorf("read sub-orders: %w", err)
		}
		if err := loadLines(tx, full); err != nil {
			return fmt.Errorf("read sub-orders: %w", err)
		}
		hist, evs := pc.Then(parent, full, from, to)
		if hist != (OrderHistory{}) {
			hist.ID, hist.OrderID, hist.Version, hist.FromState, hist.ToState = 0, parent.ID, parent.Version, from, to
			if hist.CreatedAt.IsZero() {
				hist.CreatedAt = now
			}
			hist.CreatedAt = stamp(hist.CreatedAt)
			if err := tx.Create(&hist).Error; err != nil {
				return fmt.Errorf("insert parent history: %w", err)
			}
		}
		events, err := prepareEvents(parent.ID, evs, now)
		if err != nil {
			return err
		}
		return insertTracesEvents(tx, nil, events)
	})
	if err != nil {
		return fail(err)
	}
	return parent, updated, nil
}

// SubOrdersOf returns the sub-orders of the named parents with their
// lines, by parent, each parent's in id order (the order they were placed
// in: ids of one shard sort by creation time, and the random tail breaks
// ties the same way every time).
func (s *Store) SubOrdersOf(ctx context.Context, parentIDs ...string) (map[string][]Order, error) {
	out := map[string][]Order{}
	if len(parentIDs) == 0 {
		return out, nil
	}
	db := s.readDB(ctx)
	var kids []Order
	if err := db.Where("parent_id IN ?", parentIDs).Order("parent_id").Order("id").Find(&kids).Error; err != nil {
		return nil, fmt.Errorf("store: sub-orders: %w", err)
	}
	if err := loadLines(db, kids); err != nil {
		return nil, fmt.Errorf("store: sub-orders: %w", err)
	}
	for _, k := range kids {
		out[k.ParentID] = append(out[k.ParentID], k)
	}
	return out, nil
}
