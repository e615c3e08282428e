// Package store is the order platform's persistence, on SQLite (the embedded
// default, pure Go), PostgreSQL and MySQL/MariaDB, through gorm. One
// conformance suite (package storetest and this package's tests) runs
// against all three so that they cannot drift apart.
//
// # Contracts
//
// One transaction per operation. Every write method is atomic: CreateOrder
// writes the order, its lines, history, traces, outbox events, the
// idempotency answer and the domains' steps (stock reservation, coupons,
// credit: see Step) in one local transaction, and TransitionOrder the status
// change, the domains' steps, history, traces, events and answer in
// another; on any error nothing is written. Outbox events are therefore
// written if and only if the change they announce is. The domains keep
// their own tables and counters (domains/stock, domains/promotion,
// domains/payment); the store migrates them with MigrateModels and runs
// their steps inside its transactions, retrying a transaction the database
// aborted to break a deadlock.
//
// Orders change by compare-and-set on their version: TransitionOrder with a
// stale ExpectVersion fails with ErrVersionConflict and changes nothing.
//
// What is idempotent:
//   - CreateOrder with an existing order id fails with ErrDuplicate and
//     changes nothing;
//   - ClaimIdempotency lets exactly one of any number of concurrent claimers
//     own an Idempotency-Key, for a lease its owner renews
//     (RenewIdempotency) and a retry takes over once it runs out, and
//     CreateOrder / TransitionOrder record the answer atomically with the
//     change;
//   - PutSKU is an upsert; RecordReturn answers a repeated return id with
//     the return it opened, and MoveReturn a return already in the target
//     state as it is; MarkDelivered and
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
// *ReturnExceedsError and *ReturnStateError with errors.As (an unknown
// return is ErrReturnNotFound, which is also ErrNotFound); the domains' refusals from steps come
// back wrapped, for errors.As.
package store
