package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"
)

// IdempotencyResult is the answer to remember for an Idempotency-Key, written
// in the same transaction as the change it answers.
type IdempotencyResult struct {
	Principal  string
	Key        string
	StatusCode int
	Body       string
}

// NewOrder is everything CreateOrder writes in its one transaction.
type NewOrder struct {
	// Order with its Lines. Zero CreatedAt and UpdatedAt become now, zero
	// Version becomes 1, zero LineNo the line's 1-based position.
	Order Order
	// History is the first lifecycle step; skipped when zero. OrderID,
	// Version, ToState (the order's status) and CreatedAt are filled in.
	History OrderHistory
	// Traces of the calls that shaped the order; zero Seq becomes 1, 2, ….
	Traces []OrderTrace
	// Events for the outbox; empty ID, AggregateID (the order id) and
	// CreatedAt are filled in.
	Events []OutboxEvent
	// Idempotency, when set, marks that running record done with this answer.
	Idempotency *IdempotencyResult
	// Steps are the domains' writes that belong to the order (reserve stock,
	// redeem coupons, reserve credit), run in the same transaction after
	// everything else, in order, so that hot counter rows stay locked for
	// as short a time as possible. A step's error aborts the transaction and
	// is returned as it is (wrapped): nothing of the order is written.
	Steps []Step
}

// Step is a domain's part of an order's transaction. It must use tx only
// (on SQLite the store has a single connection) and keep no state between
// runs: the store may run the whole transaction again after a deadlock.
type Step func(ctx context.Context, tx *gorm.DB) error

func runSteps(ctx context.Context, tx *gorm.DB, steps []Step) error {
	for _, step := range steps {
		if err := step(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// CreateOrder writes a new order in ONE transaction: the order, its lines,
// history, traces and outbox events, the idempotency answer, then the
// domains' steps (stock reservation, coupons, credit), last so that hot
// counter rows stay locked for as short a time as possible. If any part
// fails nothing is written: an existing order id is ErrDuplicate, an
// idempotency record that is not running ErrNotFound, and a step's refusal
// (the stock domain's *OutOfStockError, say) comes back wrapped.
func (s *Store) CreateOrder(ctx context.Context, n NewOrder) error {
	p, err := s.prepareOrder(n)
	if err != nil {
		return fmt.Errorf("store: create order: %w", err)
	}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return p.insert(ctx, tx) }); err != nil {
		return fmt.Errorf("store: create order %s: %w", p.order.ID, err)
	}
	return nil
}

// preparedOrder is a NewOrder with its defaults filled in, ready to insert.
type preparedOrder struct {
	n        NewOrder
	order    Order
	lines    []OrderLine
	hist     OrderHistory
	withHist bool
	traces   []OrderTrace
	events   []OutboxEvent
	now      time.Time
}

func (s *Store) prepareOrder(n NewOrder) (preparedOrder, error) {
	o := n.Order
	if err := checkKey("order id", o.ID, maxOrderID); err != nil {
		return preparedOrder{}, err
	}
	now := s.now()
	o.CreatedAt = cmp.Or(stamp(o.CreatedAt), now)
	o.UpdatedAt = cmp.Or(stamp(o.UpdatedAt), now)
	o.PaymentDeadline = stampPtr(o.PaymentDeadline)
	o.Version = cmp.Or(o.Version, 1)
	lines := slices.Clone(o.Lines)
	o.Lines = nil
	for i := range lines {
		lines[i].OrderID = o.ID
		lines[i].LineNo = cmp.Or(lines[i].LineNo, i+1)
	}
	hist, withHist := n.History, n.History != (OrderHistory{})
	hist.ID, hist.OrderID = 0, o.ID
	hist.Version = cmp.Or(hist.Version, o.Version)
	hist.ToState = cmp.Or(hist.ToState, o.Status)
	hist.CreatedAt = cmp.Or(stamp(hist.CreatedAt), now)
	events, err := prepareEvents(o.ID, n.Events, now)
	if err != nil {
		return preparedOrder{}, fmt.Errorf("order %s: %w", o.ID, err)
	}
	return preparedOrder{n: n, order: o, lines: lines, hist: hist, withHist: withHist,
		traces: prepareTraces(o.ID, n.Traces, 0), events: events, now: now}, nil
}

// insert writes a prepared order in tx: the order, its lines, history,
// traces, events, the idempotency answer, then its steps.
func (p preparedOrder) insert(ctx context.Context, tx *gorm.DB) error {
	order := p.order
	if err := tx.Create(&order).Error; err != nil {
		if isDuplicateKey(err) {
			return fmt.Errorf("order %s exists: %w", p.order.ID, ErrDuplicate)
		}
		return fmt.Errorf("insert order: %w", err)
	}
	if len(p.lines) > 0 {
		lines := slices.Clone(p.lines)
		if err := tx.Create(&lines).Error; err != nil {
			return fmt.Errorf("insert lines: %w", err)
		}
	}
	if p.withHist {
		h := p.hist // a retry must not reuse the id of a rolled-back insert
		if err := tx.Create(&h).Error; err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
	}
	if err := insertTracesEvents(tx, p.traces, p.events); err != nil {
		return err
	}
	if p.n.Idempotency != nil {
		if err := completeIdempotency(tx, *p.n.Idempotency, p.now); err != nil {
			return err
		}
	}
	return runSteps(ctx, tx, p.n.Steps)
}

func prepareTraces(orderID string, in []OrderTrace, after int) []OrderTrace {
	out := slices.Clone(in)
	for i := range out {
		out[i].OrderID = orderID
		if out[i].Seq == 0 {
			out[i].Seq = after + i + 1
		}
	}
	return out
}

func prepareEvents(aggregateID string, in []OutboxEvent, now time.Time) ([]OutboxEvent, error) {
	out := slices.Clone(in)
	for i := range out {
		e := &out[i]
		e.ID = cmp.Or(e.ID, newID())
		e.AggregateID = cmp.Or(e.AggregateID, aggregateID)
		e.CreatedAt = cmp.Or(stamp(e.CreatedAt), now)
		e.DeliveredAt = stampPtr(e.DeliveredAt)
		if e.Topic == "" {
			return nil, invalid("outbox event %s has no topic", e.ID)
		}
	}
	return out, nil
}

func insertTracesEvents(tx *gorm.DB, traces []OrderTrace, events []OutboxEvent) error {
	stampTrace(tx, traces, events)
	if len(traces) > 0 {
		if err := tx.Create(&traces).Error; err != nil {
			return fmt.Errorf("insert traces: %w", err)
		}
	}
	if len(events) > 0 {
		if err := tx.Create(&events).Error; err != nil {
			return fmt.Errorf("insert outbox events: %w", err)
		}
	}
	return nil
}

// GetOrder returns an order with its lines sorted by LineNo, or ErrNotFound.
// Under ReadFrom it reads the replica.
func (s *Store) GetOrder(ctx context.Context, id string) (Order, error) {
	o, err := getOrder(s.readDB(ctx), id)
	if err != nil {
		return Order{}, fmt.Errorf("store: get order %s: %w", id, err)
	}
	return o, nil
}

func getOrder(db *gorm.DB, id string) (Order, error) {
	var o Order
	err := db.Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, err
	}
	orders := []Order{o}
	if err := loadLines(db, orders); err != nil {
		return Order{}, err
	}
	return orders[0], nil
}

// loadLines fills in the lines of orders, with one query, and normalises their times.
func loadLines(db *gorm.DB, orders []Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]string, len(orders))
	at := make(map[string]int, len(orders))
	for i := range orders {
		o := &orders[i]
		ids[i], at[o.ID] = o.ID, i
		o.CreatedAt, o.UpdatedAt, o.PaymentDeadline = stamp(o.CreatedAt), stamp(o.UpdatedAt), stampPtr(o.PaymentDeadline)
		o.Lines = []OrderLine{}
	}
	var lines []OrderLine
	if err := db.Where("order_id IN ?", ids).Order("order_id").Order("line_no").Find(&lines).Error; err != nil {
		return fmt.Errorf("load lines: %w", err)
	}
	for _, l := range lines {
		o := &orders[at[l.OrderID]]
		o.Lines = append(o.Lines, l)
	}
	return nil
}

// Cursor is a position in the (created_at, id) order of ListOrders.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// OrderQuery filters ListOrders; empty fields do not filter.
type OrderQuery struct {
	BuyerID string
	Status  string
	BizCode string
	// Attrs keeps orders whose searchable attribute (the key) has the
	// canonical text (the value), through tmf_order_attributes.
	Attrs map[string]string
	// Family filters on parent and sub-orders (see FamilyFilter).
	Family FamilyFilter
	// Limit is the page size: 100 when zero or less, at most 1000.
	Limit int
	// After continues a listing strictly after this position (the Cursor of
	// the last order of the previous page).
	After *Cursor
	// Access keeps only the orders a principal may see, in SQL, together
	// with the filters above and the paging (see Access); nil does not
	// restrict, for the platform's own callers.
	Access *Access
}

// ListOrders returns orders with their lines, ordered by (CreatedAt, ID),
// one page at a time (keyset pagination: stable however many orders share a
// creation time, and as fast on the last page as on the first). An Access
// it cannot express is ErrInvalid. Under ReadFrom the orders come from the
// replica (the access filter's organisation tree from the store's own
// database).
func (s *Store) ListOrders(ctx context.Context, q OrderQuery) ([]Order, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	db := s.readDB(ctx) // a replica under ReadFrom
	tx := db.Model(&Order{})
	if q.Access != nil {
		// The organisation tree is read where it is written.
		acc, err := q.Access.narrowSubtrees(s.db.WithContext(ctx), s.largeSubtrees)
		if err != nil {
			return nil, fmt.Errorf("store: list orders: %w", err)
		}
		where, err := acc.orderClause(s.Dialect())
		if err != nil {
			return nil, fmt.Errorf("store: list orders: %w", err)
		}
		if where != nil {
			tx = tx.Where(where)
		}
	}
	if q.BuyerID != "" {
		tx = tx.Where("buyer_id = ?", q.BuyerID)
	}
	if q.Status != "" {
		tx = tx.Where("status = ?", q.Status)
	}
	if q.BizCode != "" {
		tx = tx.Where("biz_code = ?", q.BizCode)
	}
	tx = q.familyFilter(tx)
	for _, name := range slices.Sorted(maps.Keys(q.Attrs)) {
		tx = tx.Where("id IN (SELECT order_id FROM tmf_order_attributes WHERE name = ? AND value = ?)", name, q.Attrs[name])
	}
	if q.After != nil {
		at := stamp(q.After.CreatedAt)
		// Equivalent to (created_at, id) > (at, id); the leading >= gives every
		// engine an index range, where row values or a bare OR may not.
		tx = tx.Where("created_at >= ? AND (created_at > ? OR id > ?)", at, at, q.After.ID)
	}
	var out []Order
	if err := tx.Order("created_at").Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list orders: %w", err)
	}
	if err := loadLines(db, out); err != nil {
		return nil, fmt.Errorf("store: list orders: %w", err)
	}
	return out, nil
}

// Transition is one lifecycle step of an existing order.
type Transition struct {
	OrderID string
	// ExpectVersion is the version the caller read; the step fails with
	// ErrVersionConflict if the order has moved on since.
	ExpectVersion int64
	// To is the new status.
	To string
	// History of the step; skipped when zero. OrderID, Version (the new
	// version), ToState and CreatedAt are filled in.
	History OrderHistory
	Traces  []OrderTrace // appended after the order's last trace when Seq is zero
	Events  []OutboxEvent
	// ClearPaymentDeadline removes the deadline (the order was paid or cancelled).
	ClearPaymentDeadline bool
	// Idempotency, when set, marks that running record done with this answer.
	Idempotency *IdempotencyResult
	// Steps are the domains' writes of the transition (move stock, return
	// coupons, capture credit), run in the same transaction after the
	// order's compare-and-set, in order. A step's error aborts it.
	Steps []Step
}

// TransitionOrder applies one lifecycle step in ONE transaction: a
// compare-and-set of the order's status and version (ErrVersionConflict if
// the version moved, ErrNotFound if there is no such order), the domains'
// steps (stock moves, coupons, credit), then history, traces, outbox events
// and the idempotency answer. It returns the updated
// order with its lines.
func (s *Store) TransitionOrder(ctx context.Context, t Transition) (Order, error) {
	p, err := s.prepareTransition(t)
	if err != nil {
		return Order{}, err
	}
	var out Order
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		out, err = p.apply(ctx, tx)
		return err
	})
	if err != nil {
		return Order{}, p.fail(err)
	}
	return out, nil
}

// preparedTransition is a Transition with its defaults filled in.
type preparedTransition struct {
	t        Transition
	hist     OrderHistory
	withHist bool
	events   []OutboxEvent
	set      string
	now      time.Time
}

func (p preparedTransition) fail(err error) error {
	return fmt.Errorf("store: transition order %s to %s: %w", p.t.OrderID, p.t.To, err)
}

func (s *Store) prepareTransition(t Transition) (preparedTransition, error) {
	p := preparedTransition{t: t}
	if err := checkKey("order id", t.OrderID, maxOrderID); err != nil {
		return p, fmt.Errorf("store: transition: %w", err)
	}
	if t.To == "" {
		return p, p.fail(invalid("no target status"))
	}
	p.now = s.now()
	p.hist, p.withHist = t.History, t.History != (OrderHistory{})
	p.hist.ID, p.hist.OrderID, p.hist.Version = 0, t.OrderID, t.ExpectVersion+1
	p.hist.ToState = cmp.Or(p.hist.ToState, t.To)
	p.hist.CreatedAt = cmp.Or(stamp(p.hist.CreatedAt), p.now)
	events, err := prepareEvents(t.OrderID, t.Events, p.now)
	if err != nil {
		return p, p.fail(err)
	}
	p.events = events
	p.set = "status = ?, version = version + 1, updated_at = ?"
	if t.ClearPaymentDeadline {
		p.set += ", payment_deadline = NULL"
	}
	return p, nil
}

// apply runs a prepared transition in tx and returns the updated order.
func (p preparedTransition) apply(ctx context.Context, tx *gorm.DB) (Order, error) {
	t := p.t
	// The compare-and-set comes first: it locks the order's row, which
	// serialises every transition of the order until commit.
	res := tx.Exec("UPDATE tmf_orders SET "+p.set+" WHERE id = ? AND version = ?", t.To, p.now, t.OrderID, t.ExpectVersion)
	if res.Error != nil {
		return Order{}, fmt.Errorf("update order: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		var current []int64
		if err := tx.Raw("SELECT version FROM tmf_orders WHERE id = ?", t.OrderID).Scan(&current).Error; err != nil {
			return Order{}, err
		}
		if len(current) == 0 {
			return Order{}, ErrNotFound
		}
		return Order{}, fmt.Errorf("%w: expected version %d, order is at %d", ErrVersionConflict, t.ExpectVersion, current[0])
	}
	if err := runSteps(ctx, tx, t.Steps); err != nil {
		return Order{}, err
	}
	if p.withHist {
		h := p.hist
		if err := tx.Create(&h).Error; err != nil {
			return Order{}, fmt.Errorf("insert history: %w", err)
		}
	}
	var traces []OrderTrace
	if len(t.Traces) > 0 {
		// Safe without a race: the order's row is locked by the update above.
		var last int
		if err := tx.Model(&OrderTrace{}).Select("COALESCE(MAX(seq), 0)").
			Where("order_id = ?", t.OrderID).Scan(&last).Error; err != nil {
			return Order{}, fmt.Errorf("last trace: %w", err)
		}
		traces = prepareTraces(t.OrderID, t.Traces, last)
	}
	if err := insertTracesEvents(tx, traces, slices.Clone(p.events)); err != nil {
		return Order{}, err
	}
	if t.Idempotency != nil {
		if err := completeIdempotency(tx, *t.Idempotency, p.now); err != nil {
			return Order{}, err
		}
	}
	return getOrder(tx, t.OrderID)
}

// DueForPaymentTimeout returns up to limit orders (100 when zero or less)
// that are pending payment with a deadline at or before now, the earliest
// deadline first, with their lines.
func (s *Store) DueForPaymentTimeout(ctx context.Context, now time.Time, limit int) ([]Order, error) {
	if limit <= 0 {
		limit = 100
	}
	db := s.db.WithContext(ctx)
	var out []Order
	err := db.Where("status = ? AND payment_deadline IS NOT NULL AND payment_deadline <= ?", StatusPendingPayment, stamp(now)).
		Order("payment_deadline").Order("id").Limit(limit).Find(&out).Error
	if err == nil {
		err = loadLines(db, out)
	}
	if err != nil {
		return nil, fmt.Errorf("store: orders due for payment timeout: %w", err)
	}
	return out, nil
}

// OrderTraces returns the extension-call traces of an order by Seq.
func (s *Store) OrderTraces(ctx context.Context, orderID string) ([]OrderTrace, error) {
	var out []OrderTrace
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Order("seq").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: traces of order %s: %w", orderID, err)
	}
	return out, nil
}

// OrderHistory returns the lifecycle steps of an order, oldest first.
func (s *Store) OrderHistory(ctx context.Context, orderID string) ([]OrderHistory, error) {
	var out []OrderHistory
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: history of order %s: %w", orderID, err)
	}
	for i := range out {
		out[i].CreatedAt = stamp(out[i].CreatedAt)
	}
	return out, nil
}

// Enqueue writes outbox events on their own, for a consequence decided
// outside any order transaction (a charge that arrived after its order was
// cancelled must be refunded). Empty IDs and CreatedAt are filled in.
func (s *Store) Enqueue(ctx context.Context, aggregateID string, events ...OutboxEvent) error {
	evs, err := prepareEvents(aggregateID, events, s.now())
	if err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if len(evs) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return insertTracesEvents(tx, nil, evs) }); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return nil
}

// EnqueueIn writes outbox events in tx, for a consequence decided in a
// transaction of the domains' own (a charge refunded because its order
// could no longer take it). Empty IDs and CreatedAt are filled in.
func (s *Store) EnqueueIn(tx *gorm.DB, aggregateID string, events ...OutboxEvent) error {
	evs, err := prepareEvents(aggregateID, events, s.now())
	if err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return insertTracesEvents(tx, nil, evs)
}

// Unpaid is what one buyer holds in orders not paid yet.
type Unpaid struct {
	// Orders is the number of the buyer's unpaid orders.
	Orders int64
	// Quantity is, per SKU asked about, the quantity those orders reserve.
	Quantity map[string]int64
}

// UnpaidOf counts the buyer's orders in the given (unpaid) statuses and the
// quantity of each of skus they hold: the API caps both, so that one buyer
// cannot reserve a SKU's whole stock with orders it never pays.
func (s *Store) UnpaidOf(ctx context.Context, buyerID string, statuses, skus []string) (Unpaid, error) {
	out := Unpaid{Quantity: map[string]int64{}}
	if len(statuses) == 0 {
		return out, nil
	}
	db := s.db.WithContext(ctx)
	if err := db.Model(&Order{}).Where("buyer_id = ? AND status IN ?", buyerID, statuses).Count(&out.Orders).Error; err != nil {
		return Unpaid{}, fmt.Errorf("store: unpaid orders of %s: %w", buyerID, err)
	}
	if out.Orders == 0 || len(skus) == 0 {
		return out, nil
	}
	var rows []struct {
		SKU      string `gorm:"column:sku"`
		Quantity int64
	}
	err := db.Table("tmf_order_lines AS l").Select("l.sku AS sku, SUM(l.quantity) AS quantity").
		Joins("JOIN tmf_orders o ON o.id = l.order_id").
		Where("o.buyer_id = ? AND o.status IN ? AND l.sku IN ?", buyerID, statuses, skus).
		Group("l.sku").Scan(&rows).Error
	if err != nil {
		return Unpaid{}, fmt.Errorf("store: unpaid quantities of %s: %w", buyerID, err)
	}
	for _, r := range rows {
		out.Quantity[r.SKU] = r.Quantity
	}
	return out, nil
}
