package reconcile

import "time"

// Run kinds.
const (
	// KindFull checks every order, coupon and history row.
	KindFull = "full"
	// KindIncremental checks the orders updated since the high-water mark
	// of the last successful run (less Options.Overlap), and the
	// aggregates that are always checked whole (see the package doc).
	KindIncremental = "incremental"
)

// Run outcomes.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// Mismatch statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// Run is one reconciliation run (tmf_reconcile_runs).
type Run struct {
	ID      string `gorm:"primaryKey;size:32" json:"id"`
	Kind    string `gorm:"size:16;not null" json:"kind"`
	Trigger string `gorm:"size:16;not null" json:"trigger"`
	// Node is the process that ran it.
	Node   string `gorm:"size:128;not null" json:"node"`
	Status string `gorm:"size:16;not null" json:"status"`
	// Since is where an incremental run started reading orders (orders
	// updated after it); nil for a full run or the first incremental one.
	Since *time.Time `json:"since,omitempty"`
	// HighWater is the latest updated_at of the orders the run saw, the
	// next incremental run's starting point.
	HighWater *time.Time `json:"highWater,omitempty"`
	// Orders counts the orders checked one by one; Found the mismatches
	// the run saw (new or still open); New those it opened.
	Orders     int        `gorm:"not null" json:"orders"`
	Found      int        `gorm:"not null" json:"found"`
	New        int        `gorm:"not null" json:"new"`
	Error      string     `gorm:"size:1024;not null" json:"error,omitempty"`
	StartedAt  time.Time  `gorm:"not null;index:idx_tmf_reconcile_runs_started" json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (Run) TableName() string { return "tmf_reconcile_runs" }

// Mismatch is one disagreement a check found (tmf_reconcile_mismatches).
// An open mismatch is reported once: a later run that sees it again
// updates its evidence and LastRunID instead of opening another.
type Mismatch struct {
	ID int64 `gorm:"primaryKey;autoIncrement" json:"id"`
	// Check is stock, money, promotion or outbox; Issue names the kind of
	// disagreement within it.
	Check string `gorm:"column:check_name;size:32;not null;index:idx_tmf_reconcile_mismatches_open,priority:2" json:"check"`
	Issue string `gorm:"size:64;not null" json:"issue"`
	// Subject names what disagrees: "order:<id>", "slot:<sku>@<location>/<slot>",
	// "coupon:<code>", "promotion:<id>", …
	Subject string `gorm:"size:255;not null;index:idx_tmf_reconcile_mismatches_subject" json:"subject"`
	// OrderID is the order concerned, "" when none.
	OrderID string `gorm:"size:40;not null;index:idx_tmf_reconcile_mismatches_order" json:"orderId,omitempty"`
	Detail  string `gorm:"size:1024;not null" json:"detail"`
	// Evidence is JSON: the numbers on each side and the ids.
	Evidence   string     `gorm:"size:16777215;not null" json:"-"`
	Status     string     `gorm:"size:16;not null;index:idx_tmf_reconcile_mismatches_open,priority:1" json:"status"`
	FirstRunID string     `gorm:"size:32;not null" json:"firstRunId"`
	LastRunID  string     `gorm:"size:32;not null" json:"lastRunId"`
	CreatedAt  time.Time  `gorm:"not null" json:"createdAt"`
	UpdatedAt  time.Time  `gorm:"not null" json:"updatedAt"`
	ResolvedBy string     `gorm:"size:128;not null" json:"resolvedBy,omitempty"`
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
	Note       string     `gorm:"size:1024;not null" json:"note,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (Mismatch) TableName() string { return "tmf_reconcile_mismatches" }

// Flag marks an order for an operator (tmf_order_flags): reconciliation
// raises one for every order an open mismatch names, and clears it when
// the order's last open mismatch is resolved.
type Flag struct {
	OrderID string `gorm:"primaryKey;size:40" json:"orderId"`
	// Reason is the check and issue of the mismatch that raised it.
	Reason     string    `gorm:"size:255;not null" json:"reason"`
	MismatchID int64     `gorm:"not null" json:"mismatchId"`
	CreatedAt  time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (Flag) TableName() string { return "tmf_order_flags" }

// lease is the row that lets one run at a time across processes.
type lease struct {
	Name   string `gorm:"primaryKey;size:32"`
	Holder string `gorm:"size:160;not null"`
	// Until is in Unix microseconds: comparing integers behaves the same
	// on the three databases.
	Until int64 `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (lease) TableName() string { return "tmf_reconcile_lease" }

// Models are the tables of the package, for store.MigrateModels.
func Models() []any { return []any{&Run{}, &Mismatch{}, &Flag{}, &lease{}} }
