package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/store"
)

// ErrNotFound is the answer of Get for an order the read model does not hold.
var ErrNotFound = errors.New("readmodel: order not held")

// Snapshot is one order as the read model holds it: the order row with its
// lines (as the store returns it), what its payments took and gave back,
// and its searchable attributes (name → canonical text, as
// tmf_order_attributes holds them).
type Snapshot struct {
	Order store.Order
	// Paid is what the order's charge captured; Refunded what its refunds
	// gave back (refunds in flight included), in minor units of the
	// order's currency (tmf_payment_balances).
	Paid, Refunded int64
	// BalanceAt is when the order's payment balance last changed (UTC Unix
	// microseconds; 0: no payment yet). A refund does not move the
	// order's version, so the read model's version of an order is the pair
	// (Order.Version, BalanceAt): both only grow.
	BalanceAt int64
	Attrs     map[string]string
}

// Newer reports whether s is a later state of its order than (version,
// balanceAt): the pair compared in order.
func (s Snapshot) Newer(version, balanceAt int64) bool {
	return s.Order.Version > version || s.Order.Version == version && s.BalanceAt > balanceAt
}

// Model is the order read model: its own PostgreSQL database.
type Model struct {
	pool *pgxpool.Pool
}

// Open connects to the read model's database (a postgres:// URL). It does
// not create the tables: call Migrate.
func Open(ctx context.Context, dsn string) (*Model, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("readmodel: the read model's database is PostgreSQL: give a postgres:// URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("readmodel: %w", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("readmodel: %w", err)
	}
	return &Model{pool: pool}, nil
}

// Close closes the connections.
func (m *Model) Close() { m.pool.Close() }

// Ping checks that the database answers.
func (m *Model) Ping(ctx context.Context) error { return m.pool.Ping(ctx) }

// schema is the read model's tables. rm_orders is one row per order, with
// the columns lists filter on and doc, the order as the store returned it
// (lines included), from which a list answers without touching the order
// store. rm_orgs is a copy of the organisation tree (id → path), refreshed
// from the control database, for the subtree filter.
var schema = []string{
	`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
	`CREATE TABLE IF NOT EXISTS rm_orders (
		id          text PRIMARY KEY,
		version     bigint NOT NULL,
		balance_at  bigint NOT NULL DEFAULT 0,
		biz_code    text NOT NULL,
		buyer_id    text NOT NULL,
		owner_org   text NOT NULL,
		status      text NOT NULL,
		channel     text NOT NULL,
		currency    text NOT NULL,
		total       bigint NOT NULL,
		paid        bigint NOT NULL,
		refunded    bigint NOT NULL,
		skus        text[] NOT NULL,
		recipient   text NOT NULL,
		address     text NOT NULL,
		attrs       jsonb NOT NULL,
		created_at  timestamptz NOT NULL,
		updated_at  timestamptz NOT NULL,
		doc         jsonb NOT NULL,
		applied_at  timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_created ON rm_orders (created_at, id)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_buyer ON rm_orders (buyer_id, created_at, id)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_status ON rm_orders (status, created_at, id)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_biz ON rm_orders (biz_code, created_at, id)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_owner ON rm_orders (owner_org, created_at, id)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_total ON rm_orders (total)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_skus ON rm_orders USING gin (skus)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_attrs ON rm_orders USING gin (attrs jsonb_path_ops)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_recipient ON rm_orders USING gin (recipient gin_trgm_ops)`,
	`CREATE INDEX IF NOT EXISTS rm_orders_address ON rm_orders USING gin (address gin_trgm_ops)`,
	`CREATE TABLE IF NOT EXISTS rm_orgs (
		id   text PRIMARY KEY,
		path text COLLATE "C" NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS rm_orgs_path ON rm_orgs (path)`,
}

// Migrate creates the tables and indexes when they are missing, under an
// advisory lock so that several nodes starting at once do not race.
func (m *Model) Migrate(ctx context.Context) error {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("readmodel: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(727217)`); err != nil {
		return fmt.Errorf("readmodel: migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(727217)`) //nolint:errcheck // the session ends with the pool anyway
	for _, stmt := range schema {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("readmodel: migrate: %s: %w", strings.Fields(stmt)[0:3], err)
		}
	}
	return nil
}

// Reset empties the read model (for a rebuild from scratch).
func (m *Model) Reset(ctx context.Context) error {
	_, err := m.pool.Exec(ctx, `TRUNCATE rm_orders`)
	if err != nil {
		return fmt.Errorf("readmodel: reset: %w", err)
	}
	return nil
}

// row is a snapshot as the columns of rm_orders.
type row struct {
	id, bizCode, buyer, owner, status, channel, currency string
	version, balanceAt, total, paid, refunded            int64
	skus                                                 []string
	recipient, address                                   string
	attrs, doc                                           []byte
	created, updated                                     time.Time
}

func rowOf(s Snapshot) (row, error) {
	o := s.Order
	r := row{id: o.ID, bizCode: o.BizCode, buyer: o.BuyerID, owner: o.OwnerOrg, status: o.Status, channel: o.Channel,
		currency: o.Currency, version: o.Version, balanceAt: s.BalanceAt, total: o.Total, paid: s.Paid, refunded: s.Refunded,
		created: o.CreatedAt.UTC(), updated: o.UpdatedAt.UTC(), skus: []string{}}
	for _, l := range o.Lines {
		if !slices.Contains(r.skus, l.SKU) {
			r.skus = append(r.skus, l.SKU)
		}
	}
	r.recipient, r.address = addressText(o.Shipping)
	attrs := s.Attrs
	if attrs == nil {
		attrs = map[string]string{}
	}
	var err error
	if r.attrs, err = json.Marshal(attrs); err != nil {
		return r, err
	}
	if r.doc, err = json.Marshal(o); err != nil {
		return r, err
	}
	return r, nil
}

// addressText is the recipient (name and phone) and the address (lines,
// postal code, city, region, country) of an order's shipping JSON, as
// searchable text.
func addressText(shipping string) (recipient, address string) {
	if shipping == "" {
		return "", ""
	}
	var a extensions.Address
	if json.Unmarshal([]byte(shipping), &a) != nil {
		return "", ""
	}
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	}
	return join(a.Name, a.Phone), join(a.Line1, a.Line2, a.Postal, a.City, a.Region, a.Country)
}

// upsertSQL writes one order unless the read model holds the same or a
// later state of it: an older version never overwrites a newer one,
// whatever order events and rebuilds arrive in.
const upsertSQL = `INSERT INTO rm_orders AS rm (id, version, balance_at, biz_code, buyer_id, owner_org, status, channel, currency,
	total, paid, refunded, skus, recipient, address, attrs, created_at, updated_at, doc, applied_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, now())
ON CONFLICT (id) DO UPDATE SET version = excluded.version, balance_at = excluded.balance_at, biz_code = excluded.biz_code,
	buyer_id = excluded.buyer_id, owner_org = excluded.owner_org, status = excluded.status, channel = excluded.channel,
	currency = excluded.currency, total = excluded.total, paid = excluded.paid, refunded = excluded.refunded,
	skus = excluded.skus, recipient = excluded.recipient, address = excluded.address, attrs = excluded.attrs,
	created_at = excluded.created_at, updated_at = excluded.updated_at, doc = excluded.doc, applied_at = now()
WHERE rm.version < excluded.version OR (rm.version = excluded.version AND rm.balance_at < excluded.balance_at)`

// Upsert writes snapshots in one transaction and returns how many changed
// a row (the others were not newer than what the read model holds).
func (m *Model) Upsert(ctx context.Context, snaps []Snapshot) (int, error) {
	if len(snaps) == 0 {
		return 0, nil
	}
	// Sorted by id, so that two writers never lock rows in opposite orders.
	snaps = slices.Clone(snaps)
	slices.SortFunc(snaps, func(a, b Snapshot) int { return strings.Compare(a.Order.ID, b.Order.ID) })
	batch := &pgx.Batch{}
	for _, s := range snaps {
		r, err := rowOf(s)
		if err != nil {
			return 0, fmt.Errorf("readmodel: upsert %s: %w", s.Order.ID, err)
		}
		batch.Queue(upsertSQL, r.id, r.version, r.balanceAt, r.bizCode, r.buyer, r.owner, r.status, r.channel, r.currency,
			r.total, r.paid, r.refunded, r.skus, r.recipient, r.address, r.attrs, r.created, r.updated, r.doc)
	}
	changed := 0
	err := pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		res := tx.SendBatch(ctx, batch)
		for range snaps {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			changed += int(tag.RowsAffected())
		}
		return res.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("readmodel: upsert: %w", err)
	}
	return changed, nil
}

// Held is what the read model holds of one order: its snapshot and when it
// was applied.
type Held struct {
	Snapshot
	AppliedAt time.Time
}

// Get returns the read model's snapshot of an order, or ErrNotFound.
func (m *Model) Get(ctx context.Context, id string) (Held, error) {
	rows, err := m.pool.Query(ctx, `SELECT `+selectCols+` FROM rm_orders WHERE id = $1`, id)
	if err != nil {
		return Held{}, fmt.Errorf("readmodel: get %s: %w", id, err)
	}
	out, err := scanHeld(rows)
	if err != nil {
		return Held{}, fmt.Errorf("readmodel: get %s: %w", id, err)
	}
	if len(out) == 0 {
		return Held{}, ErrNotFound
	}
	return out[0], nil
}

// Estimate is about how many orders the read model holds: exact below
// 100,000, else the planner's estimate (no scan of a large table).
func (m *Model) Estimate(ctx context.Context) (int64, error) {
	var n int64
	err := m.pool.QueryRow(ctx, `SELECT CASE WHEN c.reltuples < 100000 THEN (SELECT count(*) FROM rm_orders)
		ELSE c.reltuples::bigint END FROM pg_class c WHERE c.oid = 'rm_orders'::regclass`).Scan(&n)
	return n, err
}

// Count is how many orders the read model holds.
func (m *Model) Count(ctx context.Context) (int64, error) {
	var n int64
	err := m.pool.QueryRow(ctx, `SELECT count(*) FROM rm_orders`).Scan(&n)
	return n, err
}

const selectCols = `doc, paid, refunded, balance_at, attrs, applied_at`

func scanHeld(rows pgx.Rows) ([]Held, error) {
	defer rows.Close()
	var out []Held
	for rows.Next() {
		var h Held
		var doc, attrs []byte
		if err := rows.Scan(&doc, &h.Paid, &h.Refunded, &h.BalanceAt, &attrs, &h.AppliedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(doc, &h.Order); err != nil {
			return nil, fmt.Errorf("doc: %w", err)
		}
		for i := range h.Order.Lines {
			h.Order.Lines[i].OrderID = h.Order.ID
		}
		if err := json.Unmarshal(attrs, &h.Attrs); err != nil {
			return nil, fmt.Errorf("attrs: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
