package order

import (
	"context"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// StockKeeper is how the order service holds and moves an order's stock.
// Two implementations: the default keeps stock in the order's database
// and does everything inside the order's transaction; the stock center
// (platform/stockcenter, WithStockKeeper) keeps it in its own database,
// reserving before the order's transaction (try), confirming or cancelling
// after it, and turning later moves into intents written in the
// transition's transaction and applied after its commit.
type StockKeeper interface {
	// Try holds req's stock for an order about to be committed and returns
	// the step the order's transaction runs (the reservation itself, or
	// the fence that marks the order committed). A refusal holds nothing.
	Try(ctx context.Context, req stock.ReserveRequest) (store.Step, error)
	// Finish settles tried orders once their transaction is over:
	// committed confirms them, otherwise they are released. It never
	// fails: what it cannot do is left to the keeper's sweeper.
	Finish(ctx context.Context, committed bool, orderIDs ...string)
	// Move is the step of a transition's transaction that moves the
	// order's stock by kind (stock.KindConfirm, KindShip, …).
	Move(orderID, kind string) store.Step
	// Return is the step of a received return's transaction.
	Return(req stock.ReturnRequest) store.Step
	// Settle applies what the order's committed transitions owe the stock
	// database; errors are left to the keeper's worker.
	Settle(ctx context.Context, orderID string) error
	// Reads is the handle stock reads go through: tx (the order's
	// transaction, or nil outside one) when stock lives beside the orders.
	Reads(ctx context.Context, tx *gorm.DB) *gorm.DB
}

// WithStockKeeper sets where stock lives (default: in the order's own
// database, in the order's transactions).
func WithStockKeeper(k StockKeeper) Option { return func(s *Service) { s.stock = k } }

// localStock keeps stock in the order database, in the order's
// transactions: the single-database mode.
type localStock struct{ st *store.Store }

func (l localStock) Try(_ context.Context, req stock.ReserveRequest) (store.Step, error) {
	return func(ctx context.Context, tx *gorm.DB) error { return stock.Reserve(ctx, tx, req) }, nil
}

func (localStock) Finish(context.Context, bool, ...string) {}

func (localStock) Move(orderID, kind string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error { return stock.Move(ctx, tx, orderID, kind) }
}

func (localStock) Return(req stock.ReturnRequest) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error { return stock.Return(ctx, tx, req) }
}

func (localStock) Settle(context.Context, string) error { return nil }

func (l localStock) Reads(ctx context.Context, tx *gorm.DB) *gorm.DB {
	if tx != nil {
		return tx
	}
	return l.st.DB(ctx)
}

var _ StockKeeper = localStock{}

// settleStock applies what a committed change owes the stock database
// when stock lives in its own; a failure is the keeper's worker's to retry.
func (s *Service) settleStock(ctx context.Context, orderIDs ...string) {
	for _, id := range orderIDs {
		_ = s.stock.Settle(context.WithoutCancel(ctx), id)
	}
}
