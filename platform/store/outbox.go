package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// PendingEvents returns up to limit undelivered outbox events (100 when zero
// or less), oldest first; events created in the same microsecond go by the
// aggregate's version. Delivery is at least once: an event stays pending
// until MarkDelivered, so consumers must deduplicate by ID.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]OutboxEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []OutboxEvent
	err := s.db.WithContext(ctx).Where("delivered_at IS NULL").Order("created_at").Order("version").Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending events: %w", err)
	}
	for i := range out {
		out[i].CreatedAt = stamp(out[i].CreatedAt)
	}
	return out, nil
}

// MarkDelivered marks events delivered; ids already delivered or unknown are ignored.
func (s *Store) MarkDelivered(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec("UPDATE tmf_outbox_events SET delivered_at = ? WHERE id IN ? AND delivered_at IS NULL",
		s.now(), ids).Error
	if err != nil {
		return fmt.Errorf("store: mark %d events delivered: %w", len(ids), err)
	}
	return nil
}

// RecordAttempt counts one failed delivery attempt of an event; ErrNotFound
// if there is no such event.
func (s *Store) RecordAttempt(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Exec("UPDATE tmf_outbox_events SET attempts = attempts + 1 WHERE id = ?", id)
	if res.Error != nil {
		return fmt.Errorf("store: record delivery attempt of event %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: record delivery attempt of event %s: %w", id, ErrNotFound)
	}
	return nil
}

// OutboxLease is the claim of one relay on the outbox of a database: the
// relay whose Owner holds an unexpired lease is the only one that relays,
// so events are relayed by one process at a time and in order. A relay
// renews its lease every pass; when it dies, another takes the lease over
// once ExpiresAt has passed.
type OutboxLease struct {
	Name      string    `gorm:"primaryKey;size:64" json:"name"`
	Owner     string    `gorm:"size:64;not null" json:"owner"`
	ExpiresAt time.Time `gorm:"not null" json:"expiresAt"`
}

// TableName is the table of outbox leases.
func (OutboxLease) TableName() string { return "tmf_outbox_leases" }

// ClaimOutboxLease takes or renews the lease name for owner until now+ttl.
// It reports whether owner holds the lease afterwards: false when another
// owner holds an unexpired one. Expiry is judged by this process's clock,
// so the servers sharing a database must keep their clocks within a
// fraction of ttl of each other.
func (s *Store) ClaimOutboxLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := s.now()
	expires := now.Add(ttl)
	db := s.db.WithContext(ctx)
	res := db.Exec("UPDATE tmf_outbox_leases SET owner = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)",
		owner, expires, name, owner, now)
	if res.Error != nil {
		return false, fmt.Errorf("store: claim outbox lease %s: %w", name, res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	res = db.Clauses(clause.OnConflict{DoNothing: true}).Create(&OutboxLease{Name: name, Owner: owner, ExpiresAt: expires})
	if res.Error != nil {
		return false, fmt.Errorf("store: claim outbox lease %s: %w", name, res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	// MariaDB counts only changed rows: a renewal within the same
	// microsecond changes nothing; look who holds it.
	var l OutboxLease
	if err := db.Where("name = ?", name).Take(&l).Error; err != nil {
		return false, fmt.Errorf("store: read outbox lease %s: %w", name, err)
	}
	return l.Owner == owner && !stamp(l.ExpiresAt).Before(now), nil
}

// ReleaseOutboxLease gives the lease up if owner holds it, so that another
// relay takes over at once instead of after the lease expires.
func (s *Store) ReleaseOutboxLease(ctx context.Context, name, owner string) error {
	err := s.db.WithContext(ctx).Exec("UPDATE tmf_outbox_leases SET expires_at = ? WHERE name = ? AND owner = ?",
		time.Unix(0, 0).UTC(), name, owner).Error
	if err != nil {
		return fmt.Errorf("store: release outbox lease %s: %w", name, err)
	}
	return nil
}

// OutboxBacklog is what waits in the outbox: the number of undelivered
// events and the creation time of the oldest (zero when none waits).
type OutboxBacklog struct {
	Count  int64
	Oldest time.Time
}

// Backlog counts the undelivered outbox events and finds the oldest.
func (s *Store) Backlog(ctx context.Context) (OutboxBacklog, error) {
	var b OutboxBacklog
	db := s.db.WithContext(ctx)
	if err := db.Model(&OutboxEvent{}).Where("delivered_at IS NULL").Count(&b.Count).Error; err != nil {
		return b, fmt.Errorf("store: outbox backlog: %w", err)
	}
	if b.Count == 0 {
		return b, nil
	}
	var oldest []OutboxEvent
	if err := db.Select("id", "created_at").Where("delivered_at IS NULL").Order("created_at").Limit(1).Find(&oldest).Error; err != nil {
		return b, fmt.Errorf("store: oldest undelivered event: %w", err)
	}
	if len(oldest) == 1 {
		b.Oldest = stamp(oldest[0].CreatedAt)
	}
	return b, nil
}
