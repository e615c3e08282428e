// Package reconcile compares what should agree across the platform's
// tables and reports every mismatch with its evidence (reference 003's
// datacheck, 004 §3.1): it is how an operator learns that an invariant the
// code keeps was broken anyway (a manual SQL fix, a bug, a restore).
//
// # Checks
//
//   - stock: the counters of every slot, shared cap and shipment against
//     the stock ledger (stock.Audit: put in = sellable + reserved + frozen
//   - shipped, none negative); and each checked order's ledger against
//     its state: unpaid orders hold all they reserved as reserved, paid
//     ones as frozen, shipped and ended ones nothing.
//   - money: captured − refunded per order against what it owes by its
//     state and total, one kept capture, no attempt left pending, no
//     refund failed for good (order.AuditMoney).
//   - promotion: every budget's buckets against its ledger; each checked
//     order's coupon uses and budget consumptions against its state (given
//     back exactly when it was cancelled before payment); each coupon's
//     state against its ledger. The amount a consumption took is not
//     compared with the order's discount: the share each promotion paid is
//     not stored per order.
//   - outbox: every order transition (tmf_order_history row) has the
//     outbox event of its version. Rows older than the first versioned
//     outbox event (written before events carried versions) and, when an
//     outbox retention is set, older than it are not checked.
//
// Sub-orders do not exist yet; the check that they sum to their parent
// will come with them.
//
// # Runs
//
// A full run checks every order; an incremental run checks the orders
// updated since the high-water mark of the last successful run (less
// Options.Overlap). The stock counters and the budget totals are checked
// whole in both kinds: each is one grouped query over its ledger. All
// checks of a run read one snapshot (REPEATABLE READ on PostgreSQL and
// MySQL), so orders committing meanwhile do not show as mismatches.
//
// One run at a time across every process on a database: a lease row taken
// by a conditional update. A mismatch seen again while open is updated,
// not duplicated; a full run resolves the open mismatches it no longer
// sees. Each mismatch that names an order flags the order
// (tmf_order_flags) until its last open mismatch is resolved.
package reconcile
