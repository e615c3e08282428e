package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// AuditEntry is one change made through the admin API: who made it, when,
// what it did to what, and the target before and after (JSON; null when
// the target did not exist before or does not after). Entries are never
// changed or deleted.
type AuditEntry struct {
	ID int64     `gorm:"primaryKey;autoIncrement" json:"id"`
	At time.Time `gorm:"not null" json:"at"`
	// Actor is the principal that made the change.
	Actor string `gorm:"size:128;not null" json:"actor"`
	// Action is the policy action of the request ("identity.write",
	// "admin.orgs.write", …), Verb what it did ("create", "update",
	// "move", "rollback", …).
	Action string `gorm:"size:128;not null" json:"action"`
	Verb   string `gorm:"size:64;not null" json:"verb"`
	// TargetType and TargetID name what changed: "identity" "retail.vip",
	// "bizpack" "flash-sale", "org" "east", …
	TargetType string `gorm:"size:64;not null;index:ix_tmf_audit_target,priority:1" json:"targetType"`
	TargetID   string `gorm:"size:256;not null;index:ix_tmf_audit_target,priority:2" json:"targetId"`
	// Before and After are JSON documents, or empty for none.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	// TraceID is the request's trace id, to find its log line.
	TraceID string `gorm:"size:64;not null" json:"traceId"`
}

// TableName implements gorm's schema.Tabler.
func (AuditEntry) TableName() string { return "tmf_audit" }

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// TargetType and TargetID, when set, keep the entries about that target.
	TargetType, TargetID string
	// Before continues a listing strictly before this entry id (the last id
	// of the previous page); 0 starts at the newest.
	Before int64
	// Limit is the page size: 100 when zero or less, at most 1000.
	Limit int
}

// RecordAudit saves audit entries (in one transaction).
func (s *Store) RecordAudit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *gorm.DB) error { return s.insertAudit(tx, entries) }); err != nil {
		return fmt.Errorf("store: record audit: %w", err)
	}
	return nil
}

// AuditStep is a Step that saves audit entries inside a caller's
// transaction, so that a change and its audit commit together.
func (s *Store) AuditStep(entries ...AuditEntry) Step {
	return func(_ context.Context, tx *gorm.DB) error { return s.insertAudit(tx, entries) }
}

func (s *Store) insertAudit(tx *gorm.DB, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := s.now()
	rows := make([]AuditEntry, len(entries))
	for i, e := range entries {
		if e.Actor == "" || e.Action == "" || e.TargetType == "" {
			return invalid("audit entry %d lacks actor, action or target type", i)
		}
		e.ID = 0
		if e.At.IsZero() {
			e.At = now
		}
		e.At = stamp(e.At)
		rows[i] = e
	}
	return tx.Create(&rows).Error
}

// ListAudit returns audit entries, newest first, one page at a time.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	tx := s.db.WithContext(ctx).Model(&AuditEntry{})
	if q.TargetType != "" {
		tx = tx.Where("target_type = ?", q.TargetType)
	}
	if q.TargetID != "" {
		tx = tx.Where("target_id = ?", q.TargetID)
	}
	if q.Before > 0 {
		tx = tx.Where("id < ?", q.Before)
	}
	out := []AuditEntry{}
	if err := tx.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	for i := range out {
		out[i].At = stamp(out[i].At)
	}
	return out, nil
}
