package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrStale is a write based on a revision that is no longer the latest:
// someone saved in between. Read again and reapply.
var ErrStale = errors.New("store: stale revision: another change was saved first")

// ConfigRevision is one numbered revision of the platform's configuration
// (the kernel's identities, bindings and rules) as the admin API saved it.
// Revisions are never changed or deleted: the latest is the one in force,
// the others are its history. The store keeps Body as opaque JSON.
type ConfigRevision struct {
	Revision int64 `gorm:"primaryKey;autoIncrement:false" json:"revision"`
	// Body is the whole configuration, JSON.
	Body []byte `gorm:"not null" json:"-"`
	// Author is the principal that saved it ("file" for a revision seeded
	// from a configuration file).
	Author    string    `gorm:"size:128;not null" json:"author"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (ConfigRevision) TableName() string { return "tmf_config_revisions" }

// LatestConfig returns the latest saved configuration revision, or
// ErrNotFound when none was ever saved.
func (s *Store) LatestConfig(ctx context.Context) (ConfigRevision, error) {
	var r ConfigRevision
	err := s.db.WithContext(ctx).Order("revision DESC").Limit(1).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ConfigRevision{}, ErrNotFound
	}
	if err != nil {
		return ConfigRevision{}, fmt.Errorf("store: latest config: %w", err)
	}
	r.CreatedAt = stamp(r.CreatedAt)
	return r, nil
}

// ConfigAt returns a saved configuration revision; ErrNotFound if none has
// that number.
func (s *Store) ConfigAt(ctx context.Context, revision int64) (ConfigRevision, error) {
	var r ConfigRevision
	err := s.db.WithContext(ctx).Where("revision = ?", revision).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ConfigRevision{}, ErrNotFound
	}
	if err != nil {
		return ConfigRevision{}, fmt.Errorf("store: config revision %d: %w", revision, err)
	}
	r.CreatedAt = stamp(r.CreatedAt)
	return r, nil
}

// LatestConfigRevision returns the number of the latest saved revision, 0
// when none was saved: a cheap read for processes that follow changes.
func (s *Store) LatestConfigRevision(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.db.WithContext(ctx).Model(&ConfigRevision{}).Select("MAX(revision)").Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("store: latest config revision: %w", err)
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

// SaveConfig saves rev as the revision after base, the audit entries that
// describe the change and its config.revision_applied outbox event, in ONE
// transaction: all are saved or none.
// base is the revision the change was made from; when the latest saved
// revision is another, it is ErrStale and nothing is written. On a store
// that holds no revision yet any base is accepted, so that a server
// configured from a file keeps its numbering. The
// revision saved is base+1 whatever rev.Revision says; it is returned.
func (s *Store) SaveConfig(ctx context.Context, base int64, rev ConfigRevision, audit ...AuditEntry) (int64, error) {
	if len(rev.Body) == 0 {
		return 0, fmt.Errorf("store: save config: %w", invalid("the configuration body is empty"))
	}
	rev.Revision = base + 1
	rev.CreatedAt = s.now()
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var latest *int64
		if err := tx.Model(&ConfigRevision{}).Select("MAX(revision)").Scan(&latest).Error; err != nil {
			return err
		}
		if latest != nil && *latest != base {
			return ErrStale
		}
		// Two writers that both read base race on the primary key: the
		// loser's insert fails and is reported as stale below.
		if err := tx.Create(&rev).Error; err != nil {
			if isDuplicateKey(err) {
				return ErrStale
			}
			return err
		}
		if err := insertTracesEvents(tx, nil, []OutboxEvent{revisionEvent(rev)}); err != nil {
			return err
		}
		return s.insertAudit(tx, audit)
	})
	if err != nil {
		if errors.Is(err, ErrStale) {
			return 0, err
		}
		return 0, fmt.Errorf("store: save config revision %d: %w", base+1, err)
	}
	return rev.Revision, nil
}

// TopicRevisionApplied is the outbox topic of a saved configuration
// revision (platform/events.ConfigRevisionApplied: the store cannot import
// the catalogue, which imports it).
const TopicRevisionApplied = "config.revision_applied"

// revisionEvent announces a saved revision; its aggregate is "config" and
// its version the revision, so consumers keep the latest.
func revisionEvent(rev ConfigRevision) OutboxEvent {
	b, _ := json.Marshal(struct {
		Revision  int64     `json:"revision"`
		Author    string    `json:"author"`
		CreatedAt time.Time `json:"createdAt"`
	}{rev.Revision, rev.Author, rev.CreatedAt.UTC()}) // plain values: never fails
	return OutboxEvent{ID: newID(), Topic: TopicRevisionApplied, AggregateID: "config", Version: rev.Revision, Payload: string(b),
		CreatedAt: rev.CreatedAt}
}
