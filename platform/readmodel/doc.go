// Package readmodel is the order read model: a copy of every order, in its
// own PostgreSQL database, shaped for the lists and searches of the
// back office (agents, operators, administrators), so that those reads do
// not touch the databases the buyers write (reference 001 §3.3, reference
// 000's separate search level).
//
// # What it holds
//
// One row per order (rm_orders): id, status, identity (biz_code), buyer,
// owning organisation node, created and updated time, amounts (total,
// paid, refunded, currency), its SKUs (text[] with a GIN index), the
// recipient and address text (pg_trgm trigram indexes, so ILIKE
// '%text%' is served by an index), its searchable attributes (jsonb, GIN),
// the order as the store returned it (doc, from which a list answers), and
// its version. A copy of the organisation tree (rm_orgs: id → path) lets a
// list apply the permission policy's filter with the store's semantics
// (store.Access: an owner_path condition is on the current path of the
// owning node); RunOrgSync refreshes it from the control database.
//
// # How it is fed
//
// A durable JetStream consumer (Feed, platform/events/consumer) receives
// every order.* and payment.* event; their subject is the order id. For
// each, the feed reads that one order by id from the store that owns it
// (one shard: the id names it) and upserts it. The events are not used as
// the data, for two reasons: the payment events do not carry the order's
// paid and refunded totals (tmf_payment_balances holds them, and a refund
// does not move the order's version), and the read model needs the
// searchable attributes in their canonical text, which only the store's
// attribute index holds. Reading the order by id costs one primary-key
// read on one shard per event, and makes every event — whatever its type,
// including ones added later and the change-data-capture order.changed —
// bring the whole current order, so the read model cannot drift field by
// field. A transition's event whose tmfversion the read model already
// holds skips the read (duplicates and redeliveries cost one read of the
// read model); payment and return events never do, since their
// transaction moves the payment balance and not the order's version.
//
// The upsert keeps the newer state: a row is replaced only when (version,
// balance_at) grows (WHERE rm.version < excluded.version OR …), so events
// out of order, duplicates, a rebuild running beside the feed, and the
// back-fill of multi-level reads never let an older state overwrite a
// newer one. The feed acknowledges an event only after the upsert
// committed; a failure asks for redelivery.
//
// # Lag, rebuild, outage
//
// Metrics: tmf_readmodel_events_pending (the consumer's pending and
// unacknowledged events, from JetStream), tmf_readmodel_lag_seconds (event
// time to apply), tmf_readmodel_up, tmf_readmodel_fallbacks_total;
// Feed.Status gives the same for GET /v1/admin/readmodel. Rebuild copies
// every order from the store in keyset order with a progress line; the
// consumer continues from its position meanwhile. When the read model's
// database is down or slow, lists fall back to the order store (the API
// says so in X-TMF-Read-Level) and reads by id fall through to the store
// (Reader); nothing fails because of it.
package readmodel
