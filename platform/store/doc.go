// Package store is the order platform's persistence, on SQLite (the embedded
// default, pure Go), PostgreSQL and MySQL/MariaDB, through gorm. One
// conformance suite (package storetest and this package's tests) runs
// against all three so that they cannot drift apart.
//
// # Contracts
//
// One transaction per operation. Every write method is atomic: CreateOrder
// writes the order, its lines, history, traces, outbox events, the
// idempotency answer and the stock reservations in one local transaction, and
// TransitionOrder the status change, the stock moves, history, traces, events
// and answer in another; on any error nothing is written. Outbox events are
// therefore written if and only if the change they announce is.
//
// No read-modify-write of stock and no distributed lock. Stock moves between
// buckets (sellable, reserved, frozen, shipped) only through conditional
// updates (UPDATE … SET sellable = sellable - q … WHERE sellable >= q)
// whose affected-row count decides success, so stock is never oversold under
// any concurrency. Rows are locked in sorted order (SKU, location) so that
// concurrent operations do not deadlock; a transaction the database aborts to
// break a deadlock is run again. SetSellable, the one operation that sets an
// absolute value, locks the level's row (SELECT … FOR UPDATE; SQLite has a
// single writer) while it computes its delta. The ledger (StockMove) makes
// the invariant checkable: what was put in = sellable + reserved + frozen +
// shipped, none negative (AuditStock).
//
// Orders change by compare-and-set on their version: TransitionOrder with a
// stale ExpectVersion fails with ErrVersionConflict and changes nothing.
//
// What is idempotent:
//   - a stock move of a transition is applied at most once per (order, SKU,
//     location, kind), through the move's unique key: replaying a
//     transition's release, confirm, ship, unfreeze or return moves stock once;
//   - CreateOrder with an existing order id fails with ErrDuplicate and
//     changes nothing;
//   - ClaimIdempotency lets exactly one of any number of concurrent claimers
//     own an Idempotency-Key, and CreateOrder / TransitionOrder record the
//     answer atomically with the change;
//   - PutSKU and PutLocation are upserts; MarkDelivered and
//     ReleaseIdempotency may be repeated; Migrate may run again, and from
//     several processes at once.
//
// Outbox delivery is at least once: consumers deduplicate by event ID.
//
// Time: every stored time is converted to UTC and truncated to microseconds
// (Precision) before it is written, and is returned in UTC, so the three
// databases give back identical values (MySQL columns are DATETIME(6)).
//
// Errors are wrapped with the operation and its keys; match ErrNotFound,
// ErrDuplicate, ErrVersionConflict and ErrInvalid with errors.Is, and
// *OutOfStockError and *StockStateError with errors.As.
package store
