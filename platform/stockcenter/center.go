// Package stockcenter keeps stock in its own database (reference 004 §1.1,
// §2.1): the order database and the stock database never share a
// transaction, and no distributed lock or two-phase commit joins them.
//
// Placing an order is try / confirm / cancel (TCC) keyed by the order id:
//
//   - Try reserves in the stock database, in one local transaction, and
//     writes the order's reservation row (tried, due at now+Expiry).
//   - The order then commits in its own database; in that transaction it
//     writes the intent <order>/tcc = confirm (Center.Hold's step). The order
//     commit is the commit point.
//   - Confirm applies that intent: the reservation becomes confirmed.
//   - Cancel (a placement that failed after its try) first writes the
//     intent <order>/tcc = cancel in the order database: if the order
//     committed, its confirm holds the key and the cancel becomes a confirm;
//     otherwise the cancel holds it and an order transaction still in flight
//     fails on the key. Only then is the reservation cancelled (released).
//   - The sweeper finds tried reservations past their expiry (a process
//     crashed between try and confirm) and resolves each the same way: the
//     order exists → confirm, absent → cancel through the fence.
//
// Later stock effects of the lifecycle (pay freezes, ship ships, cancel or
// timeout releases, returns come back) are intents too: written in the
// transition's transaction (Center.Move, Center.Return) and applied right
// after the commit (Center.Settle) or by the intent worker for any left
// behind. The stock ledger's move keys make each apply idempotent.
//
// Everything the center asks of the order side goes through Orders: "the
// database that holds order X" and the list of order databases, so that
// orders sharded over several databases need nothing else.
package stockcenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// Defaults of Options.
const (
	DefaultExpiry   = 2 * time.Minute
	DefaultInterval = time.Second
	DefaultLease    = 30 * time.Second
	DefaultBatch    = 200
)

// Fault points, for Options.Fault: where a test makes the process "crash".
const (
	PointTryCommit     = "try.commit"     // stock side: in the try's transaction, before it commits
	PointTried         = "try.done"       // the try committed; the order transaction has not started
	PointOrderCommit   = "order.commit"   // order side: in the order's transaction, at its fence
	PointCommitted     = "order.done"     // the order committed; its confirm has not run
	PointIntentApply   = "intent.apply"   // an intent is about to be applied to the stock database
	PointIntentApplied = "intent.applied" // the stock database took it; it is not yet marked applied
)

// ErrCrashed is what every call of a center answers after its fault hook
// made it "crash": the process is gone, nothing it does reaches a database.
var ErrCrashed = errors.New("stockcenter: the process crashed (fault injection)")

// Orders finds order databases. For is the database that holds an order
// (from its id alone); All lists every order database, for the intent
// worker.
type Orders interface {
	For(orderID string) *store.Store
	All() []*store.Store
}

// One is Orders over a single order database.
type One struct{ Store *store.Store }

// For implements Orders.
func (o One) For(string) *store.Store { return o.Store }

// All implements Orders.
func (o One) All() []*store.Store { return []*store.Store{o.Store} }

// Options configures New.
type Options struct {
	// Expiry is how long a tried reservation waits for its order before
	// the sweeper resolves it (DefaultExpiry). It must be longer than any
	// placement takes from its try to its commit; a placement slower than
	// that is refused at its commit (the sweeper's fence), never left
	// without stock.
	Expiry time.Duration
	// Interval between the worker's passes (DefaultInterval).
	Interval time.Duration
	// Lease is how long a pass holds its lease (DefaultLease).
	Lease time.Duration
	// Node names this process in leases; default host:pid.
	Node string
	// Clock; time.Now by default.
	Clock func() time.Time
	// Log; slog.Default() by default.
	Log *slog.Logger
	// Registerer for the center's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Fault, when set, is called at each Point*; an error makes the center
	// crash: that call and every later one answer ErrCrashed.
	Fault func(point, orderID string) error
}

// Center is the stock database and the protocol over it.
type Center struct {
	stock   *store.Store
	orders  Orders
	opts    Options
	crashed atomic.Bool
	m       *centerMetrics
}

// New returns a center over the stock database and the order databases.
// It migrates nothing: call Migrate.
func New(stockDB *store.Store, orders Orders, opts Options) (*Center, error) {
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Center{stock: stockDB, orders: orders, opts: opts, m: m}, nil
}

// Migrate creates the stock database's tables (the store's and the
// domains', of which it uses the stock ones) and the center's tables in
// the stock database and every order database.
func (c *Center) Migrate(ctx context.Context) error {
	if err := c.stock.Migrate(ctx); err != nil {
		return fmt.Errorf("stockcenter: migrate the stock database: %w", err)
	}
	for _, st := range append([]*store.Store{c.stock}, c.orders.All()...) {
		if err := st.MigrateModels(ctx, Models()...); err != nil {
			return fmt.Errorf("stockcenter: migrate: %w", err)
		}
	}
	return nil
}

// Stock is the stock database: stock reads (availability, levels) and the
// operators' stock changes go there.
func (c *Center) Stock() *store.Store { return c.stock }

// fault runs the hook at point; after a crash every call answers
// ErrCrashed.
func (c *Center) fault(point, orderID string) error {
	if c.crashed.Load() {
		return ErrCrashed
	}
	if c.opts.Fault == nil || point == "" {
		return nil
	}
	if err := c.opts.Fault(point, orderID); err != nil {
		c.crashed.Store(true)
		return fmt.Errorf("%w at %s: %v", ErrCrashed, point, err)
	}
	return nil
}

// Try reserves req in the stock database (one local transaction) with a
// reservation due at now+Expiry, and returns the step the order's
// transaction must run: it writes the order's confirm intent, the fence
// that a cancel or the sweeper would otherwise take. A refusal
// (*stock.OutOfStockError) holds nothing.
func (c *Center) Try(ctx context.Context, req stock.ReserveRequest) (store.Step, error) {
	if err := c.fault("", req.OrderID); err != nil {
		return nil, err
	}
	expires := c.opts.Clock().Add(c.opts.Expiry)
	err := stock.TryReserve(ctx, c.stock.DB(ctx), req, expires, func() error { return c.fault(PointTryCommit, req.OrderID) })
	if err != nil {
		return nil, err
	}
	c.m.tried.Inc()
	if err := c.fault(PointTried, req.OrderID); err != nil {
		return nil, err
	}
	return c.fenceStep(req.OrderID), nil
}

// fenceStep writes <order>/tcc = confirm in the order's transaction. A
// cancel that took the key first fails the order (*stock.ReservationError);
// one in flight makes the insert wait for it.
func (c *Center) fenceStep(orderID string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		if err := c.fault(PointOrderCommit, orderID); err != nil {
			return err
		}
		took, err := insertOnce(tx, &Intent{Key: tccKey(orderID), OrderID: orderID, Kind: KindConfirm, CreatedAt: c.stamp()})
		if err == nil && !took {
			return &stock.ReservationError{OrderID: orderID, Op: "confirm", State: stock.ReservationCancelled}
		}
		return err
	}
}

// Finish settles the placement of the orders after their transaction:
// committed confirms them, otherwise they are cancelled through the fence
// (which confirms instead when the order did commit after all). Errors
// are logged: the sweeper settles what Finish could not.
func (c *Center) Finish(ctx context.Context, committed bool, orderIDs ...string) {
	for _, id := range orderIDs {
		var err error
		if committed {
			if err = c.fault(PointCommitted, id); err == nil {
				err = c.Settle(ctx, id)
			}
		} else {
			err = c.Cancel(ctx, id)
		}
		if err != nil && !errors.Is(err, ErrCrashed) {
			c.opts.Log.Warn("stock center: reservation left to the sweeper", "order", id, "committed", committed, "error", err)
		}
	}
}

// Cancel cancels the order's reservation unless its order committed:
// it takes the fence <order>/tcc with a cancel intent in the order's
// database (if the order's confirm holds it, the confirm is applied
// instead), then applies it.
func (c *Center) Cancel(ctx context.Context, orderID string) error {
	if err := c.fault("", orderID); err != nil {
		return err
	}
	db := c.orders.For(orderID).DB(ctx)
	if _, err := insertOnce(db, &Intent{Key: tccKey(orderID), OrderID: orderID, Kind: KindCancel, CreatedAt: c.stamp()}); err != nil {
		return fmt.Errorf("stockcenter: fence order %s: %w", orderID, err)
	}
	return c.Settle(ctx, orderID)
}

// Move is the step a transition's transaction runs for a stock move of
// the order: it writes the intent; Settle applies it after the commit.
func (c *Center) Move(orderID, kind string) store.Step {
	return c.intentStep(orderID, orderID+"/move/"+kind, KindMove, kind)
}

// Return is the step of a received return: it writes the intent.
func (c *Center) Return(req stock.ReturnRequest) store.Step {
	b, err := json.Marshal(req)
	if err != nil {
		return func(context.Context, *gorm.DB) error { return err }
	}
	return c.intentStep(req.OrderID, req.OrderID+"/return/"+req.ReturnID, KindReturn, string(b))
}

func (c *Center) intentStep(orderID, key, kind, payload string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		if err := c.fault("", orderID); err != nil {
			return err
		}
		_, err := insertOnce(tx, &Intent{Key: key, OrderID: orderID, Kind: kind, Payload: payload, CreatedAt: c.stamp()})
		return err
	}
}

// Settle applies the order's pending intents to the stock database, in
// the order they were written, and marks each applied. It stops at the
// first that fails (the next depend on it); the intent worker tries again.
func (c *Center) Settle(ctx context.Context, orderID string) error {
	if err := c.fault("", orderID); err != nil {
		return err
	}
	db := c.orders.For(orderID).DB(ctx)
	var pending []Intent
	if err := db.Where("order_id = ? AND applied_at = 0", orderID).Order("id").Find(&pending).Error; err != nil {
		return fmt.Errorf("stockcenter: pending intents of order %s: %w", orderID, err)
	}
	for _, in := range pending {
		if err := c.apply(ctx, db, in); err != nil {
			return err
		}
	}
	return nil
}

func (c *Center) apply(ctx context.Context, db *gorm.DB, in Intent) error {
	if err := c.fault(PointIntentApply, in.OrderID); err != nil {
		return err
	}
	sdb := c.stock.DB(ctx)
	var err error
	switch in.Kind {
	case KindConfirm:
		err = stock.ConfirmReservation(ctx, sdb, in.OrderID)
		if err == nil {
			c.m.confirmed.Inc()
		}
	case KindCancel:
		err = stock.CancelReservation(ctx, sdb, in.OrderID)
		if err == nil {
			c.m.cancelled.Inc()
		}
	case KindMove:
		err = sdb.Transaction(func(tx *gorm.DB) error { return stock.Move(ctx, tx, in.OrderID, in.Payload) })
	case KindReturn:
		var req stock.ReturnRequest
		if err = json.Unmarshal([]byte(in.Payload), &req); err == nil {
			err = sdb.Transaction(func(tx *gorm.DB) error { return stock.Return(ctx, tx, req) })
		}
	default:
		err = fmt.Errorf("unknown intent kind %q", in.Kind)
	}
	if err != nil {
		if !errors.Is(err, ErrCrashed) && ctx.Err() == nil {
			msg := err.Error()
			if len(msg) > 500 {
				msg = msg[:500]
			}
			_ = db.Model(&Intent{}).Where("id = ?", in.ID).
				Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": msg}).Error
			c.m.failed.Inc()
		}
		return fmt.Errorf("stockcenter: apply %s: %w", in.Key, err)
	}
	if err := c.fault(PointIntentApplied, in.OrderID); err != nil {
		return err
	}
	if err := db.Model(&Intent{}).Where("id = ?", in.ID).Update("applied_at", c.opts.Clock().UnixMicro()).Error; err != nil {
		return fmt.Errorf("stockcenter: mark %s applied: %w", in.Key, err)
	}
	return nil
}

// Sweep resolves tried reservations past their expiry: the order exists in
// its database → confirm; absent → cancel through the fence (so an order
// transaction still in flight fails rather than commit without stock).
// It never cancels a reservation whose order committed. It returns how
// many it resolved.
func (c *Center) Sweep(ctx context.Context) (int, error) {
	due, err := stock.DueReservations(ctx, c.stock.DB(ctx), c.opts.Clock(), DefaultBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range due {
		c.m.expired.Inc()
		st := c.orders.For(r.OrderID)
		_, err := st.GetOrder(ctx, r.OrderID)
		switch {
		case err == nil:
			err = c.Settle(ctx, r.OrderID) // its confirm intent is pending
		case errors.Is(err, store.ErrNotFound):
			err = c.Cancel(ctx, r.OrderID)
		}
		if err != nil {
			return n, fmt.Errorf("stockcenter: sweep order %s: %w", r.OrderID, err)
		}
		c.m.swept.Inc()
		n++
	}
	return n, nil
}

// Drain applies the pending intents of every order database, order by
// order, and reports how many orders it settled and how many intents were
// pending when it started (the pending gauge).
func (c *Center) Drain(ctx context.Context) (settled int, err error) {
	return c.drain(ctx, c.orders.All())
}

func (c *Center) drain(ctx context.Context, dbs []*store.Store) (settled int, err error) {
	var pending int64
	for _, st := range dbs {
		db := st.DB(ctx)
		var p int64
		if err := db.Model(&Intent{}).Where("applied_at = 0").Count(&p).Error; err != nil {
			return settled, fmt.Errorf("stockcenter: count pending intents: %w", err)
		}
		pending += p
		var orders []string
		if err := db.Model(&Intent{}).Where("applied_at = 0").Distinct("order_id").Limit(DefaultBatch).
			Pluck("order_id", &orders).Error; err != nil {
			return settled, fmt.Errorf("stockcenter: pending intents: %w", err)
		}
		for _, id := range orders {
			if err := c.Settle(ctx, id); err != nil {
				if errors.Is(err, ErrCrashed) || ctx.Err() != nil {
					return settled, err
				}
				c.opts.Log.Warn("stock center: intent not applied; tried again next pass", "order", id, "error", err)
				continue
			}
			settled++
		}
	}
	c.m.pending.Set(float64(pending))
	return settled, nil
}

// Pass is one round of the worker: the sweeper under its lease in the
// stock database, then each order database's intents under its lease
// there. A lease another process holds skips that part.
func (c *Center) Pass(ctx context.Context) error {
	var errs []error
	if ok, err := c.acquire(ctx, c.stock, "sweeper"); err != nil {
		errs = append(errs, err)
	} else if ok {
		if _, err := c.Sweep(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, st := range c.orders.All() {
		ok, err := c.acquire(ctx, st, "intents")
		if err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		if _, err := c.drain(ctx, []*store.Store{st}); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() == nil {
		if counts, err := stock.ReservationCounts(ctx, c.stock.DB(ctx)); err == nil {
			c.m.held.Set(float64(counts[stock.ReservationTried]))
		}
	}
	return errors.Join(errs...)
}

// Run runs Pass every Interval until ctx ends.
func (c *Center) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.opts.Log.Error("stock center pass", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// acquire takes or renews the named lease in st for this node.
func (c *Center) acquire(ctx context.Context, st *store.Store, name string) (bool, error) {
	db := st.DB(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&lease{Name: name}).Error; err != nil {
		return false, fmt.Errorf("stockcenter: lease row: %w", err)
	}
	now := c.opts.Clock()
	res := db.Exec("UPDATE tmf_stock_leases SET holder = ?, until = ? WHERE name = ? AND (until < ? OR holder = ?)",
		c.opts.Node, now.Add(c.opts.Lease).UnixMicro(), name, now.UnixMicro(), c.opts.Node)
	if res.Error != nil {
		return false, fmt.Errorf("stockcenter: take the %s lease: %w", name, res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	// MySQL counts changed rows: renewing with the same values changes none.
	var held lease
	if err := db.Where("name = ?", name).Take(&held).Error; err != nil {
		return false, fmt.Errorf("stockcenter: read the %s lease: %w", name, err)
	}
	return held.Holder == c.opts.Node && held.Until >= now.UnixMicro(), nil
}

func (c *Center) stamp() time.Time { return c.opts.Clock().UTC().Truncate(time.Microsecond) }

func tccKey(orderID string) string { return orderID + "/tcc" }

// insertOnce inserts in unless its key exists and reports whether it did;
// raw SQL, since gorm's insert of an auto-increment row on MariaDB answers
// a row for a duplicate too.
func insertOnce(db *gorm.DB, in *Intent) (bool, error) {
	q := "INSERT INTO tmf_stock_intents (intent_key, order_id, kind, payload, applied_at, attempts, last_error, created_at) " +
		"VALUES (?, ?, ?, ?, 0, 0, '', ?) "
	if db.Dialector.Name() == "mysql" {
		q += "ON DUPLICATE KEY UPDATE intent_key = intent_key"
	} else {
		q += "ON CONFLICT (intent_key) DO NOTHING"
	}
	res := db.Exec(q, in.Key, in.OrderID, in.Kind, in.Payload, in.CreatedAt)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// Reads is the stock database: stock reads go there, never to an order
// transaction.
func (c *Center) Reads(ctx context.Context, _ *gorm.DB) *gorm.DB { return c.stock.DB(ctx) }
