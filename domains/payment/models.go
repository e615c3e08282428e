package payment

import "time"

// Payment kinds.
const (
	KindCharge = "charge" // money taken for an order
	KindRefund = "refund" // money given back for an order
)

// Payment states. A payment starts pending and ends succeeded or failed,
// once: the change is a conditional update on state = 'pending'.
const (
	StatePending   = "pending"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
)

// Key and column sizes. SQLite does not enforce sizes, so they are checked
// in Go to make the three databases agree.
const (
	maxOrderID = 64
	maxKey     = 255
	maxAgentID = 128
	maxText    = 255
)

// Payment is one payment operation (table tmf_payments): a charge or a
// refund of an order, by one method, under one idempotency key. Amounts are
// in minor units of Currency. Of a card, only its brand and last four
// digits are kept.
type Payment struct {
	ID      string `gorm:"primaryKey;size:40" json:"id"`
	OrderID string `gorm:"size:64;not null;index:idx_tmf_payments_order" json:"orderId"`
	// Method is MethodCard, MethodAgentCredit or another method's name.
	Method string `gorm:"size:32;not null" json:"method"`
	// Kind is KindCharge or KindRefund.
	Kind string `gorm:"size:16;not null" json:"kind"`
	// IdemKey is the idempotency key: unique among all payments.
	IdemKey  string `gorm:"column:idem_key;size:255;not null;uniqueIndex:idx_tmf_payments_idem_key" json:"key"`
	Amount   int64  `gorm:"not null" json:"amount"`
	Currency string `gorm:"size:3;not null" json:"currency"`
	// State is StatePending, StateSucceeded or StateFailed.
	State string `gorm:"size:16;not null;index:idx_tmf_payments_due,priority:1" json:"state"`
	// ProcessorRef is the processor's id of what it did: the capture of a
	// card charge, the refund of a card refund; for agent credit, the key of
	// the credit move.
	ProcessorRef string `gorm:"size:255;not null" json:"processorRef,omitempty"`
	CardBrand    string `gorm:"size:16;not null" json:"cardBrand,omitempty"`
	CardLast4    string `gorm:"column:card_last4;size:4;not null" json:"cardLast4,omitempty"`
	// Reason is the refund's reason, as the request gave it.
	Reason string `gorm:"size:255;not null" json:"reason,omitempty"`
	// FailureCode and FailureMessage say why a failed payment failed (the
	// processor's decline) or, on a pending one, what stopped the last attempt.
	FailureCode    string `gorm:"size:64;not null" json:"failureCode,omitempty"`
	FailureMessage string `gorm:"size:255;not null" json:"failureMessage,omitempty"`
	// Attempts counts the calls that worked on the payment.
	Attempts int `gorm:"not null" json:"attempts"`
	// ChargeID is, on a refund, the charge whose capture it gives back.
	ChargeID string `gorm:"size:40;not null" json:"chargeId,omitempty"`
	// RetriedBy is, on a failed refund, the refund an operator started to
	// pay it again.
	RetriedBy string `gorm:"size:40;not null" json:"retriedBy,omitempty"`
	// LeaseUntil (UTC Unix microseconds) is when the call working on a
	// pending payment loses it to another call with the same key.
	LeaseUntil int64 `gorm:"not null" json:"-"`
	// NextAttempt (UTC Unix microseconds) is when recovery may work on a
	// pending payment next: at once for an owed refund, later after a
	// transient failure (exponential backoff).
	NextAttempt int64     `gorm:"not null;index:idx_tmf_payments_due,priority:2" json:"-"`
	CreatedAt   time.Time `gorm:"not null" json:"createdAt"`
	UpdatedAt   time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Payment) TableName() string { return "tmf_payments" }

// Balance is the money of one order (table tmf_payment_balances): what was
// captured by its charge and what was refunded (refunds in flight
// included). Refunded never exceeds Captured: refunds add to it with the
// conditional update refunded + amount <= captured.
type Balance struct {
	OrderID  string `gorm:"primaryKey;size:64" json:"orderId"`
	Currency string `gorm:"size:3;not null" json:"currency"`
	// ChargeID is the charge that holds the order: the pending charge being
	// tried or the succeeded one; empty when none does. An order has at most
	// one, so it is never charged twice, whatever the keys.
	ChargeID string `gorm:"size:40;not null" json:"chargeId,omitempty"`
	// Method is the method of ChargeID.
	Method    string    `gorm:"size:32;not null" json:"method,omitempty"`
	Captured  int64     `gorm:"not null" json:"captured"`
	Refunded  int64     `gorm:"not null" json:"refunded"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Balance) TableName() string { return "tmf_payment_balances" }

// Refundable is what is left to refund: Captured − Refunded.
func (b Balance) Refundable() int64 { return b.Captured - b.Refunded }

// AgentCredit is the credit line of a B2B agent (table
// tmf_credit_accounts), in one currency. Invariant:
// CreditLimit = Available + Reserved + Used, and none is negative.
type AgentCredit struct {
	AgentID     string `gorm:"primaryKey;size:128" json:"agentId"`
	Currency    string `gorm:"size:3;not null" json:"currency"`
	CreditLimit int64  `gorm:"not null" json:"creditLimit"`
	// Available may still be reserved by orders.
	Available int64 `gorm:"not null" json:"available"`
	// Reserved is held by placed, unpaid orders.
	Reserved int64 `gorm:"not null" json:"reserved"`
	// Used is owed for paid orders, less their refunds.
	Used      int64     `gorm:"not null" json:"used"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (AgentCredit) TableName() string { return "tmf_credit_accounts" }

// Credit move kinds.
const (
	MoveLimit   = "limit"   // the limit was set; Amount is the new limit
	MoveReserve = "reserve" // available → reserved, when an order is placed
	MoveCapture = "capture" // reserved → used, when the order is paid
	MoveRelease = "release" // reserved → available, when an unpaid order is cancelled
	MoveRefund  = "refund"  // used → available, when a paid order is cancelled or returned
)

// CreditMove is one movement of an agent's credit (table tmf_credit_moves).
// MoveKey makes each movement happen once:
//
//	ORDER/reserve        the order's reservation
//	ORDER/settle         its capture or its release (one excludes the other)
//	ORDER/refund/KEY     a refund under KEY
//	AGENT/limit/ID       a change of the limit
type CreditMove struct {
	MoveKey   string    `gorm:"primaryKey;size:255" json:"moveKey"`
	AgentID   string    `gorm:"size:128;not null;index:idx_tmf_credit_moves_agent" json:"agentId"`
	OrderID   string    `gorm:"size:64;not null;index:idx_tmf_credit_moves_order" json:"orderId,omitempty"`
	Kind      string    `gorm:"size:16;not null" json:"kind"`
	Amount    int64     `gorm:"not null" json:"amount"`
	Currency  string    `gorm:"size:3;not null" json:"currency"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (CreditMove) TableName() string { return "tmf_credit_moves" }

// Models lists the domain's tables, for the platform's migration.
func Models() []any {
	return append([]any{&Payment{}, &Balance{}, &AgentCredit{}, &CreditMove{}}, sandboxModels()...)
}
