package store

import "time"

// States of a Fulfilment row.
const (
	// FulfilmentDispatch: the order waits to be handed to its supplier
	// (fulfilment.dispatch), first or again after a transient failure.
	FulfilmentDispatch = "dispatch"
	// FulfilmentWaiting: the supplier accepted the order; its answer comes
	// by signed callback or by polling fulfilment.query.
	FulfilmentWaiting = "waiting"
	// FulfilmentDone: the supplier delivered; the order is fulfilled.
	FulfilmentDone = "fulfilled"
	// FulfilmentFailed: the supplier refused or the deadline passed; the
	// order was refunded in full and is fulfil_failed.
	FulfilmentFailed = "failed"
)

// Fulfilment is the durable work row of one order fulfilled by a supplier
// (tmf_fulfilments), written in the transaction of the pay transition that
// puts the order into fulfilling, and moved to its end in the transaction
// of the order's fulfil or fulfil_fail transition. A worker takes a row
// that is due (NextAttempt) and that nobody works on (LeaseUntil) with a
// conditional update of its lease, so any number of servers share the
// work and a crashed worker's row is taken over when its lease runs out.
// Times in Unix microseconds are UTC.
type Fulfilment struct {
	OrderID string `gorm:"primaryKey;size:40" json:"orderId"`
	BizCode string `gorm:"size:128;not null" json:"bizCode"`
	State   string `gorm:"size:16;not null;index:idx_tmf_fulfilments_due,priority:1" json:"state"`
	// Supplier and Reference are what the supplier's answers named.
	Supplier  string `gorm:"size:64;not null;default:''" json:"supplier,omitempty"`
	Reference string `gorm:"size:128;not null;default:''" json:"reference,omitempty"`
	// Attempts counts calls of fulfilment.dispatch and fulfilment.query.
	Attempts    int   `gorm:"not null" json:"attempts"`
	NextAttempt int64 `gorm:"not null;index:idx_tmf_fulfilments_due,priority:2" json:"-"`
	LeaseUntil  int64 `gorm:"not null" json:"-"`
	// Deadline is when the order is refunded if the supplier has not
	// delivered; PollEveryMicros how often fulfilment.query is asked.
	Deadline        int64  `gorm:"not null" json:"-"`
	PollEveryMicros int64  `gorm:"not null" json:"-"`
	LastError       string `gorm:"size:512;not null;default:''" json:"lastError,omitempty"`
	// Reason says why a failed row failed (rejected by the supplier, or the
	// deadline).
	Reason string `gorm:"size:512;not null;default:''" json:"reason,omitempty"`
	// LateAt is when a success arrived after the order was refunded: the
	// supplier delivered goods the buyer got back the money for. An
	// operator settles it with the supplier; the platform never charges
	// again. LateReference and LateSource (callback or poll) say what came.
	LateAt        *time.Time `gorm:"index:idx_tmf_fulfilments_late" json:"lateAt,omitempty"`
	LateReference string     `gorm:"size:128;not null;default:''" json:"lateReference,omitempty"`
	LateSource    string     `gorm:"size:16;not null;default:''" json:"lateSource,omitempty"`
	// LateResolvedAt and LateResolvedBy record the operator who settled a
	// late success.
	LateResolvedAt *time.Time `json:"lateResolvedAt,omitempty"`
	LateResolvedBy string     `gorm:"size:128;not null;default:''" json:"lateResolvedBy,omitempty"`
	CreatedAt      time.Time  `gorm:"not null" json:"createdAt"`
	UpdatedAt      time.Time  `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Fulfilment) TableName() string { return "tmf_fulfilments" }

// FulfilmentCallback records one signed supplier callback by its message id
// (the Standard Webhooks webhook-id), so that a replayed message is
// answered without being applied again.
type FulfilmentCallback struct {
	Supplier   string    `gorm:"primaryKey;size:64" json:"supplier"`
	MessageID  string    `gorm:"primaryKey;size:128" json:"messageId"`
	OrderID    string    `gorm:"size:40;not null" json:"orderId"`
	Outcome    string    `gorm:"size:16;not null" json:"outcome"`
	ReceivedAt time.Time `gorm:"not null;index" json:"receivedAt"`
}

// TableName implements gorm's schema.Tabler.
func (FulfilmentCallback) TableName() string { return "tmf_fulfilment_callbacks" }

func fulfilmentModels() []any { return []any{&Fulfilment{}, &FulfilmentCallback{}} }
