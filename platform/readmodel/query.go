package readmodel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// ErrInvalid is a filter the read model cannot express (an access
// condition on an unknown field, a malformed path): the caller must deny,
// as with the store's store.ErrInvalid.
var ErrInvalid = errors.New("readmodel: invalid filter")

// Query filters List; empty fields do not filter. Conditions are ANDed.
type Query struct {
	// Access is the permission filter, with the store's semantics (see
	// store.Access): owner_path conditions compare the current path of the
	// owning node in the read model's copy of the tree.
	Access   *store.Access
	Statuses []string
	BizCode  string
	BuyerID  string
	// OrgSubtree keeps orders owned by the node of this id or below it.
	OrgSubtree string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound the creation time.
	CreatedFrom, CreatedTo *time.Time
	// TotalMin and TotalMax (both inclusive) bound the order's total.
	TotalMin, TotalMax *int64
	// SKU keeps orders with a line of this SKU.
	SKU string
	// Recipient and Address keep orders whose recipient (name, phone) or
	// address text contains the text, ignoring case (the trigram indexes
	// serve it from three characters on).
	Recipient, Address string
	// Attrs: searchable attribute name → canonical text.
	Attrs map[string]string
	// After continues strictly after this (created_at, id) position.
	After *store.Cursor
	// Limit is the page size: 100 when zero or less, at most 1000.
	Limit int
}

// builder collects a WHERE clause with numbered parameters.
type builder struct {
	where []string
	args  []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *builder) add(cond string) { b.where = append(b.where, cond) }

// likeEscaper escapes LIKE's wildcards with the default escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// List returns a page of orders in (created_at, id) order.
func (m *Model) List(ctx context.Context, q Query) ([]Held, error) {
	sqlText, args, err := q.sql()
	if err != nil {
		return nil, err
	}
	rows, err := m.pool.Query(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("readmodel: list: %w", err)
	}
	out, err := scanHeld(rows)
	if err != nil {
		return nil, fmt.Errorf("readmodel: list: %w", err)
	}
	return out, nil
}

func (q Query) sql() (string, []any, error) {
	var b builder
	if q.Access != nil {
		cond, err := accessSQL(&b, *q.Access)
		if err != nil {
			return "", nil, err
		}
		if cond != "" {
			b.add(cond)
		}
	}
	if len(q.Statuses) > 0 {
		b.add("status = ANY(" + b.arg(q.Statuses) + ")")
	}
	if q.BizCode != "" {
		b.add("biz_code = " + b.arg(q.BizCode))
	}
	if q.BuyerID != "" {
		b.add("buyer_id = " + b.arg(q.BuyerID))
	}
	if q.OrgSubtree != "" {
		p := b.arg(q.OrgSubtree)
		b.add("owner_org IN (SELECT s.id FROM rm_orgs s, rm_orgs n WHERE n.id = " + p +
			" AND s.path LIKE replace(replace(n.path, '_', '\\_'), '%', '\\%') || '%')")
	}
	if q.CreatedFrom != nil {
		b.add("created_at >= " + b.arg(q.CreatedFrom.UTC()))
	}
	if q.CreatedTo != nil {
		b.add("created_at < " + b.arg(q.CreatedTo.UTC()))
	}
	if q.TotalMin != nil {
		b.add("total >= " + b.arg(*q.TotalMin))
	}
	if q.TotalMax != nil {
		b.add("total <= " + b.arg(*q.TotalMax))
	}
	if q.SKU != "" {
		b.add("skus @> ARRAY[" + b.arg(q.SKU) + "]::text[]")
	}
	if q.Recipient != "" {
		b.add("recipient ILIKE " + b.arg("%"+likeEscaper.Replace(q.Recipient)+"%"))
	}
	if q.Address != "" {
		b.add("address ILIKE " + b.arg("%"+likeEscaper.Replace(q.Address)+"%"))
	}
	for _, name := range slices.Sorted(maps.Keys(q.Attrs)) {
		b.add("attrs @> jsonb_build_object(" + b.arg(name) + "::text, " + b.arg(q.Attrs[name]) + "::text)")
	}
	if q.After != nil {
		at := b.arg(q.After.CreatedAt.UTC())
		b.add("(created_at, id) > (" + at + ", " + b.arg(q.After.ID) + ")")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	text := "SELECT " + selectCols + " FROM rm_orders"
	if len(b.where) > 0 {
		text += " WHERE " + strings.Join(b.where, " AND ")
	}
	text += " ORDER BY created_at, id LIMIT " + strconv.Itoa(limit)
	return text, b.args, nil
}

// accessSQL is the permission filter as SQL, with the semantics of
// store.Access: "" when it does not restrict.
func accessSQL(b *builder, a store.Access) (string, error) {
	if a.All {
		return "", nil
	}
	if len(a.Any) == 0 {
		return "(1 = 0)", nil
	}
	var ors []string
	for _, conj := range a.Any {
		if len(conj) == 0 {
			ors = append(ors, "(1 = 1)")
			continue
		}
		var ands []string
		for _, c := range conj {
			s, err := condSQL(b, c)
			if err != nil {
				return "", err
			}
			ands = append(ands, s)
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", nil
}

// columns are the order fields an access condition may name, as in
// store.Access; owner_path is handled apart.
var columns = map[string]string{"id": "id", "buyer_id": "buyer_id", "biz_code": "biz_code", "owner_org": "owner_org"}

// maxOrgPath is the longest path of the organisation tree (store.Org).
const maxOrgPath = 1024

func condSQL(b *builder, c store.Cond) (string, error) {
	col, ok := columns[c.Field]
	if !ok && c.Field != "owner_path" {
		return "", fmt.Errorf("%w: unknown field %.40q", ErrInvalid, c.Field)
	}
	switch c.Op {
	case store.OpEq, store.OpPrefix:
		if len(c.Values) != 1 {
			return "", fmt.Errorf("%w: %s %s takes one value, not %d", ErrInvalid, c.Field, c.Op, len(c.Values))
		}
	case store.OpIn:
		if len(c.Values) == 0 || len(c.Values) > store.MaxAccessValues {
			return "", fmt.Errorf("%w: %s in takes 1 to %d values, not %d", ErrInvalid, c.Field, store.MaxAccessValues, len(c.Values))
		}
	default:
		return "", fmt.Errorf("%w: unknown op %.40q on %s", ErrInvalid, c.Op, c.Field)
	}
	if c.Field == "owner_path" {
		for _, v := range c.Values {
			if v == "" || len(v) > maxOrgPath || !isPathText(v) {
				return "", fmt.Errorf("%w: owner_path %s %.70q: a path is 1 to %d of a-z 0-9 - /", ErrInvalid, c.Op, v, maxOrgPath)
			}
		}
		var where string
		switch c.Op {
		case store.OpEq:
			where = "path = " + b.arg(c.Values[0])
		case store.OpIn:
			where = "path = ANY(" + b.arg(c.Values) + ")"
		default:
			// A path holds no LIKE wildcard (checked above).
			where = "path LIKE " + b.arg(c.Values[0]+"%")
		}
		return "owner_org IN (SELECT id FROM rm_orgs WHERE " + where + ")", nil
	}
	switch c.Op {
	case store.OpEq:
		return col + " = " + b.arg(c.Values[0]), nil
	case store.OpIn:
		return col + " = ANY(" + b.arg(c.Values) + ")", nil
	}
	// starts_with compares byte by byte, case-sensitive, as the store does.
	return "starts_with(" + col + ", " + b.arg(c.Values[0]) + ")", nil
}

func isPathText(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return false
		}
	}
	return true
}

// SyncOrgs makes the read model's copy of the organisation tree equal to
// tree (id → path), in one transaction: a moved subtree moves access to
// its orders in read-model lists at the next sync.
func (m *Model) SyncOrgs(ctx context.Context, tree map[string]string) error {
	ids := make([]string, 0, len(tree))
	paths := make([]string, 0, len(tree))
	for _, id := range slices.Sorted(maps.Keys(tree)) {
		ids, paths = append(ids, id), append(paths, tree[id])
	}
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("readmodel: sync orgs: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `DELETE FROM rm_orgs WHERE NOT (id = ANY($1))`, ids); err != nil {
		return fmt.Errorf("readmodel: sync orgs: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rm_orgs (id, path) SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (id) DO UPDATE SET path = excluded.path WHERE rm_orgs.path <> excluded.path`, ids, paths); err != nil {
		return fmt.Errorf("readmodel: sync orgs: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("readmodel: sync orgs: %w", err)
	}
	return nil
}
