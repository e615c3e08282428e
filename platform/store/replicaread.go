package store

import (
	"context"

	"gorm.io/gorm"
)

// AsReplica opens a store on a read-only copy of another store's database
// (a PostgreSQL hot standby): Open neither pings it (a replica that is down
// at start is only not used; package replica decides) nor follows its
// cache notifications (LISTEN is refused during recovery). Use it only
// through ReadFrom.
func AsReplica() Option {
	return func(c *config) { c.replica = true }
}

// replicaKey carries the store a request's lag-tolerant reads use.
type replicaKey struct{}

// ReadFrom returns a context under which GetOrder, ListOrders and
// SubOrdersOf of any store read from replica (a store opened with
// AsReplica on a copy of that store's database) instead of their own
// database. Nothing else follows it: writes, the reads inside a write's
// transaction, idempotency records, principals, the organisation tree
// (ListOrders' access filter) and every other read stay on the store's own
// database. The caller (package replica) chooses a replica only when it has
// replayed what the reader must see.
func ReadFrom(ctx context.Context, replica *Store) context.Context {
	if replica == nil {
		return ctx
	}
	return context.WithValue(ctx, replicaKey{}, replica)
}

// ReadsReplica reports whether ctx sends reads to a replica (ReadFrom).
func ReadsReplica(ctx context.Context) bool {
	_, ok := ctx.Value(replicaKey{}).(*Store)
	return ok
}

// readDB is the handle of a lag-tolerant read: the replica ReadFrom put in
// ctx, else the store's own database.
func (s *Store) readDB(ctx context.Context) *gorm.DB {
	if r, ok := ctx.Value(replicaKey{}).(*Store); ok && r != s {
		return r.db.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}
