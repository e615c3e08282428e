// Package stock is the stock domain: how much of each SKU every location
// holds and in which state, the moves an order makes on it from placement
// to return, stock set aside for sales channels, hot-SKU buckets, the
// figures that warehouse routing chooses from, and an audit that
// recomputes every counter from the ledger (reference 004 §2.1, §3.1.1;
// reference 003 for budget buckets).
//
// # Quantities
//
// The stock of a SKU at a location is counted in four buckets (reference
// 004 §2.1.2): sellable (can be reserved), reserved (held by an order that
// is not paid yet, "occupied"), frozen (paid, waiting for shipment or in
// transit) and shipped. An operator puts stock in by setting the sellable
// quantity; orders then move it between the buckets:
//
//	reserve   sellable → reserved   the order is placed
//	confirm   reserved → frozen     the order is paid
//	release   reserved → sellable   an unpaid order is cancelled or times out
//	ship      frozen   → shipped    the order leaves the warehouse
//	unfreeze  frozen   → sellable   a paid order is rejected or fails before shipping
//	return    shipped  → sellable   a (partial) return comes back
//
// Invariant: what was put in equals sellable + reserved + frozen + shipped,
// and no bucket is ever negative, under any concurrency.
//
// # Slots
//
// The stock of a SKU at a location is split into slots, each with its own
// four buckets: the common pool (slot ""), the stock set aside for a channel
// ("ch:<channel>") and the buckets of a hot SKU ("b:0", "b:1", …). The
// physical stock is the sum of the slots, so channel stock always moves
// together with physical stock (reference 004 §2.1.4: channel stock cannot
// exist on its own). Each part of an order remembers the slot it came from,
// and every later move of the part hits that slot.
//
// # Tables
//
// Every counter changes only by a conditional update checked by its
// RowsAffected (UPDATE … SET sellable = sellable - ? … WHERE sellable >= ?):
// no read-modify-write, no SELECT … FOR UPDATE followed by a write-back, no
// distributed lock. Every movement writes a row of the ledger with a unique
// key.
//
//   - tmf_locations: name, regions (comma-separated, empty = everywhere),
//     priority (higher preferred).
//   - tmf_stock_slots: (sku, location, slot) → sellable, reserved, frozen,
//     shipped, updated_at.
//   - tmf_stock_ledger: id, move_key (unique), sku, location, slot, order_id
//     (indexed), line_no, part, channel, kind, quantity, reason, created_at.
//     Kinds are the six order moves above (positive quantities), adjust
//     (an operator's change of sellable, signed) and allocate (sellable moved
//     between the slots of one SKU and location: one row per slot, signed,
//     the pair summing to zero). Channel names the shared cap a row counts
//     against (reserve) or gives back to (release, unfreeze, return).
//   - tmf_stock_channels: (sku, location, channel, mode) → cap, used: the
//     channel settings.
//   - tmf_stock_buckets: (sku, location) → bucket_count: the hot-SKU split.
//   - tmf_stock_shipments: (order_id, line_no, part) → shipped, returned:
//     the counter that keeps returns within what a line shipped.
//
// Models lists them for the platform's migration.
//
// # The order flow
//
// The order operations take the order's transaction (tx) and never open
// their own: the platform runs them inside the one local transaction that
// also writes the order, its lines, its history and its outbox events, so
// that all of it commits or rolls back together. After any error the
// transaction must be rolled back (the platform does): a refusal may come
// after earlier lines moved.
//
//   - Reserve(ctx, tx, ReserveRequest) when the order is placed, at the
//     location routing chose. A short line refuses with *OutOfStockError
//     (SKU, Location, Channel, Requested, Available).
//   - Move(ctx, tx, orderID, kind) for confirm (paid), release (cancelled or
//     timed out before payment), ship, and unfreeze (rejected or failed
//     after payment, before shipping). It applies to every part of the
//     order's reservation. A part that is not in the state the kind needs
//     refuses with *StateError: confirm after release, release after
//     confirm, ship or unfreeze before confirm, ship after unfreeze.
//   - Return(ctx, tx, ReturnRequest) for each return, partial or not. A
//     line never returns more than it shipped minus what earlier returns
//     brought back: *ReturnError.
//
// Every operation is idempotent, so a retried request or a redelivered
// message never moves stock twice. The ledger row of a move is inserted
// first, keyed by what it does, and when the key exists nothing more
// happens:
//
//	<order>/<line>/<part>/reserve            part <part> of the line was reserved
//	<order>/<line>/<part>/reserved           the part left reserved: confirm or release
//	<order>/<line>/<part>/frozen             the part left frozen: ship or unfreeze
//	<order>/<line>/return/<returnID>/<n>     the n-th share of a return of the line
//
// The two kinds of a pair share one key, so a part leaves each bucket once,
// by one kind, however calls race: of a confirm and a release racing for
// the same order, exactly one wins and the other is refused. A line's first
// reserve row is inserted before anything moves (and corrected once the
// line knows its slots), so a retried Reserve leaves reserved lines alone.
//
// # Channel stock
//
// Channel stock (reference 004 §2.1.4) is set per SKU, location and
// channel with SetChannel and removed with RemoveChannel:
//
//   - shared: a cap on what the channel may hold from the common pool
//     (reserved, frozen, or shipped and not returned); nothing is set aside.
//     The used counter moves by conditional update (used + q <= cap) and is
//     given back by release, unfreeze and return. A cap of 0 blocks the
//     channel from the pool.
//   - mutex (mutually exclusive): the quantity is moved from the common pool
//     into the channel's slot. Other channels can no longer sell it; the
//     channel sells at most what its slot holds.
//   - exclusive: the SKU at the location is sold only by that channel: all
//     its sellable stock moves into the channel's slot, later increases of
//     SetSellable go there, and orders from any other channel, or from none,
//     find nothing. It must be the only setting of the SKU at the location
//     and excludes buckets (*ConflictError otherwise).
//
// The exact rule of which slots an order from channel C takes a line from:
//
//  1. If the SKU is exclusive to another channel, nothing: out of stock.
//  2. C's own slot first, when C is exclusive or has a mutex setting: the
//     whole line if the slot covers it, else what the slot holds.
//  3. The rest from the common pool (the pool slot, or the buckets): freely
//     for an order without channel, for the exclusive channel and for a
//     channel without settings; under its cap for a channel with a shared
//     setting; not at all for a channel with a mutex setting and no shared
//     cap. A channel with both a set-aside and a cap thus sells its own
//     stock first, then the shared pool (reference 004 §2.1.4: "use the
//     exclusive channel first").
//
// Lowering a mutex quantity or removing a mutex or exclusive setting gives
// the unsold set-aside stock back to the pool slot, with allocate rows;
// stock that orders later give back into a slot that no longer sets
// anything aside flows on to the pool the same way. Removing a shared cap
// while the channel still holds stock under it keeps the row with Cap
// NoCap (limiting nothing) until that stock comes back, so the counter
// stays exact.
//
// # Hot-SKU buckets
//
// One row that every order of a best-seller updates is a queue: each
// transaction waits for the one before to commit. SplitBuckets(n) moves the
// common pool's sellable stock evenly into n bucket slots (reference 003,
// budget buckets); Reserve then routes each buyer to bucket
// dbutil.Bucket(buyerID, n) and orders of different buyers update different
// rows. When the buyer's bucket is short it falls back to the next buckets
// in order (wrapping), then to the pool slot; when no single one covers the
// line but together they do, it merges them back into the buyer's bucket
// and takes the line there. Past the buyer's own bucket an order never
// waits for a row another transaction holds: it probes each fallback, and
// a merge gathers the buckets, with FOR UPDATE SKIP LOCKED and leaves the
// busy ones out (the moves themselves are still conditional updates), so
// orders that each hold their own bucket cannot deadlock waiting for each
// other's. MergeBuckets ends the split. The buckets of a SKU never sell
// more than its stock: each is a slot like any other. SetSellable spreads
// increases over the buckets and takes decreases from the pool slot, then
// the buckets.
//
// # Operators
//
// PutLocation and Locations keep the locations. SetSellable sets the total
// sellable quantity of a SKU at a location, creating the location and the
// slot when absent; it applies the difference to what it read, so
// reservations committed meanwhile are never overwritten, and a decrease
// that they made impossible refuses with *OutOfStockError (retry).
// Levels returns per SKU and location the totals, the slots and the
// channel and bucket settings, as JSON-tagged structs for the API. The
// operator functions run in the transaction they are given.
//
// # Routing
//
// Availability(ctx, db, channel, skus) gives per location its priority, its
// regions and, per SKU, what an order from that channel could reserve
// there (own slot plus the part of the pool its settings allow). The
// platform passes it to stock.route_warehouse, a first-wins point whose
// default (stock.priority-coverage) picks the highest-priority location
// that covers the shipping region and has every line; ties go to the
// smaller name. An implementation names a location and reserves nothing:
// Reserve follows, with conditional updates, and is the one that decides.
//
// # Audit
//
// Audit recomputes every slot, every shared cap's used counter and every
// shipment from the ledger and reports each difference as a Discrepancy
// (the oversell audit of reference 004 §3.1.1): put in against the sum of
// the buckets, each bucket against the moves, negatives, caps, returns
// beyond what shipped, ledger rows without a slot.
//
// # Databases
//
// SQLite, PostgreSQL and MySQL/MariaDB (8.0 / 10.6 or later, for SKIP
// LOCKED). Reads that steer a decision (which bucket to try, how much a
// channel slot holds) are plain reads: fresh per statement on PostgreSQL,
// the transaction's snapshot on MySQL; every decision is enforced by the
// conditional update, so a stale read can cost a refusal, never an
// oversell. Transactions take the rows of an order in SKU order, and a
// channel's slot before its cap and the pool, so that concurrent orders do
// not deadlock; MySQL keeps the row of a failed conditional update locked
// until commit, which is why bucket fallbacks and merges skip locked rows
// rather than wait. A deadlock that remains (two lines of one SKU in one
// order, say) is retried by the store's transaction.
package stock
