package webhooks

import "time"

// Endpoint is a registered receiver. Secret (and PreviousSecret during a
// rotation's grace period) are stored as they are used, in clear: whoever
// can read the database can sign deliveries (see docs/operations.md).
type Endpoint struct {
	ID          string `gorm:"primaryKey;size:40"`
	URL         string `gorm:"size:2048;not null"`
	Description string `gorm:"size:256;not null"`
	// EventTypes and Identities are comma-separated; "*" matches every
	// type, and no identity matches every identity.
	EventTypes string `gorm:"size:2048;not null"`
	Identities string `gorm:"size:2048;not null"`
	Enabled    bool   `gorm:"not null"`
	// DisabledReason says why the platform disabled the endpoint ("" when
	// an operator did, or it is enabled).
	DisabledReason string `gorm:"size:512;not null"`
	Secret         string `gorm:"size:128;not null"`
	PreviousSecret string `gorm:"size:128;not null"`
	// PreviousUntil ends the grace period of PreviousSecret.
	PreviousUntil *time.Time
	// FailingSince is the first failed attempt since the last success; nil
	// when the last attempt succeeded.
	FailingSince *time.Time
	CreatedAt    time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (Endpoint) TableName() string { return "tmf_webhook_endpoints" }

// Delivery states.
const (
	StatePending   = "pending"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
)

// Delivery is one event to one endpoint: created once (unique by endpoint
// and event) when the outbox relay hands the event over, then attempted
// until it succeeds or its retry schedule runs out.
type Delivery struct {
	ID         string `gorm:"primaryKey;size:40"`
	EndpointID string `gorm:"size:40;not null;uniqueIndex:ux_tmf_webhook_delivery_event,priority:1;index:ix_tmf_webhook_delivery_endpoint,priority:1"`
	EventID    string `gorm:"size:128;not null;uniqueIndex:ux_tmf_webhook_delivery_event,priority:2"`
	EventType  string `gorm:"size:128;not null"`
	// Payload is the CloudEvents JSON sent as the body.
	Payload string `gorm:"type:text;not null"`
	State   string `gorm:"size:16;not null;index:ix_tmf_webhook_delivery_due,priority:1"`
	// Attempts made so far, manual redeliveries included.
	Attempts int `gorm:"not null"`
	// NextAt is when the next attempt is due (pending only).
	NextAt time.Time `gorm:"not null;index:ix_tmf_webhook_delivery_due,priority:2"`
	// LeaseOwner and LeaseUntil: the worker attempting it, until when.
	LeaseOwner string `gorm:"size:64;not null"`
	LeaseUntil *time.Time
	// Manual: an operator asked for the next attempt (Redeliver).
	Manual     bool      `gorm:"not null"`
	LastStatus int       `gorm:"not null"`
	LastError  string    `gorm:"size:512;not null"`
	CreatedAt  time.Time `gorm:"not null;index:ix_tmf_webhook_delivery_endpoint,priority:2"`
	UpdatedAt  time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (Delivery) TableName() string { return "tmf_webhook_deliveries" }

// Attempt is one HTTP request of a delivery, as the delivery log shows it.
type Attempt struct {
	ID         int64  `gorm:"primaryKey;autoIncrement;index:ix_tmf_webhook_attempt_endpoint,priority:2"`
	DeliveryID string `gorm:"size:40;not null;index"`
	EndpointID string `gorm:"size:40;not null;index:ix_tmf_webhook_attempt_endpoint,priority:1"`
	EventID    string `gorm:"size:128;not null"`
	At         time.Time
	// StatusCode is 0 when no answer came (refused, timed out).
	StatusCode int   `gorm:"not null"`
	LatencyMS  int64 `gorm:"not null"`
	// Response is the start of the answer's body, at most ResponseExcerpt bytes.
	Response string `gorm:"size:1024;not null"`
	Error    string `gorm:"size:512;not null"`
	Manual   bool   `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (Attempt) TableName() string { return "tmf_webhook_attempts" }

// Models are the package's tables, for store.MigrateModels.
func Models() []any { return []any{&Endpoint{}, &Delivery{}, &Attempt{}} }
