package stockcenter

import "time"

// Intent kinds: what an intent asks of the stock database.
const (
	// KindConfirm confirms the order's reservation; written in the order's
	// placing transaction, so it exists exactly when the order does.
	KindConfirm = "confirm"
	// KindCancel cancels the order's reservation; written by a cancel (a
	// failed placement, the sweeper) under the same key as KindConfirm, so
	// that one of the two wins and an order committing late is refused.
	KindCancel = "cancel"
	// KindMove applies a stock move (Payload: stock.KindConfirm, KindShip,
	// KindRelease or KindUnfreeze) of a lifecycle transition.
	KindMove = "move"
	// KindReturn applies a received return (Payload: the
	// stock.ReturnRequest as JSON).
	KindReturn = "return"
)

// Intent is one stock effect an order owes, written in the order database
// in the same transaction as the change that owes it (a local message
// table, like the outbox) and applied to the stock database afterwards,
// at least once; the stock side is idempotent per Key's effect (the
// reservation's state, the ledger's move keys), so applying twice does
// nothing more. An order's intents are applied in ID order.
type Intent struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// Key is unique: <order>/tcc for the placement's confirm or cancel,
	// <order>/move/<kind>, <order>/return/<return id>.
	Key     string `gorm:"column:intent_key;size:200;not null;uniqueIndex:uix_tmf_stock_intents_key"`
	OrderID string `gorm:"size:40;not null;index:idx_tmf_stock_intents_order"`
	Kind    string `gorm:"size:16;not null"`
	Payload string `gorm:"type:text;not null"`
	// AppliedAt is when the stock database took it (Unix microseconds); 0
	// while pending.
	AppliedAt int64     `gorm:"not null;index:idx_tmf_stock_intents_pending"`
	Attempts  int       `gorm:"not null"`
	LastError string    `gorm:"size:512;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (Intent) TableName() string { return "tmf_stock_intents" }

// lease lets one sweeper (in the stock database) and one intent worker
// (per order database) run at a time across processes; taken with a
// conditional update like the reconciliation runner's.
type lease struct {
	Name   string `gorm:"primaryKey;size:32"`
	Holder string `gorm:"size:160;not null"`
	Until  int64  `gorm:"not null"` // Unix microseconds
}

// TableName implements gorm's schema.Tabler.
func (lease) TableName() string { return "tmf_stock_leases" }

// Models are the tables the center keeps in each order database and in the
// stock database, for store.MigrateModels.
func Models() []any { return []any{&Intent{}, &lease{}} }
