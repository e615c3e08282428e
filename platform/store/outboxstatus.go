package store

import (
	"context"
	"fmt"
)

// MaxOutboxLeases bounds OutboxLeases: a database has one lease per relay
// name, a handful at most.
const MaxOutboxLeases = 100

// OutboxLeases lists the relays' leases on the outbox, by name: who relays
// (the owner of an unexpired lease) and until when.
func (s *Store) OutboxLeases(ctx context.Context) ([]OutboxLease, error) {
	var out []OutboxLease
	if err := s.db.WithContext(ctx).Order("name").Limit(MaxOutboxLeases).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: outbox leases: %w", err)
	}
	for i := range out {
		out[i].ExpiresAt = stamp(out[i].ExpiresAt)
	}
	return out, nil
}
