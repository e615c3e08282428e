package store

import (
	"context"
	"fmt"
)

// PendingEvents returns up to limit undelivered outbox events (100 when zero
// or less), oldest first. Delivery is at least once: an event stays pending
// until MarkDelivered, so consumers must deduplicate by ID.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]OutboxEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []OutboxEvent
	err := s.db.WithContext(ctx).Where("delivered_at IS NULL").Order("created_at").Order("id").Limit(limit).Find(&out).Error
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
