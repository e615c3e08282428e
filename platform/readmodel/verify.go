package readmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/platform/store"
)

// Difference is one order on which the read model and the order store
// disagree.
type Difference struct {
	ID string `json:"id"`
	// Kind: "missing" (the store holds it, the read model does not),
	// "behind" (the read model holds an older state), "ahead" (a newer
	// one: the store was restored from an older backup), "differs" (the
	// same version with other content) or "extra" (the read model holds an
	// order the store does not).
	Kind string `json:"kind"`
	// Store and ReadModel are the (version, balanceAt) each holds.
	Store     [2]int64 `json:"store"`
	ReadModel [2]int64 `json:"readModel"`
}

// Report is the outcome of Verify.
type Report struct {
	// Checked is how many orders of the store were compared.
	Checked int64 `json:"checked"`
	// Held is how many orders the read model holds.
	Held int64 `json:"held"`
	// Differences, the first MaxDifferences of them; Count is all of them.
	Differences []Difference `json:"differences"`
	Count       int64        `json:"count"`
}

// Equal reports whether the read model equals the store.
func (r Report) Equal() bool { return r.Count == 0 }

// String is a one-line summary and the first differences.
func (r Report) String() string {
	if r.Equal() {
		return fmt.Sprintf("equal: %d orders", r.Checked)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d differences in %d orders of the store (the read model holds %d)", r.Count, r.Checked, r.Held)
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "\n  %s %s: store v%d/%d, read model v%d/%d", d.Kind, d.ID, d.Store[0], d.Store[1], d.ReadModel[0], d.ReadModel[1])
	}
	return b.String()
}

// MaxDifferences is how many differences a Report lists.
const MaxDifferences = 20

// Verify compares every order of the store with the read model's row of
// it: the order with its lines (as the store returns it), paid, refunded,
// the balance's time and the searchable attributes; then counts the read
// model's rows, so that one the store does not hold shows as "extra".
// While orders are written the two differ by the feed's lag: verify after
// the load, or again until equal. batch is the orders read at once (500
// when 0 or less).
func Verify(ctx context.Context, m *Model, src Source, batch int) (Report, error) {
	if batch <= 0 {
		batch = 500
	}
	var r Report
	add := func(d Difference) {
		r.Count++
		if len(r.Differences) < MaxDifferences {
			r.Differences = append(r.Differences, d)
		}
	}
	var after *store.Cursor
	matched := int64(0)
	for {
		ids, next, err := src.Scan(ctx, after, batch)
		if err != nil {
			return r, err
		}
		if len(ids) == 0 {
			break
		}
		want, err := src.Fetch(ctx, ids)
		if err != nil {
			return r, err
		}
		held, err := m.getMany(ctx, ids)
		if err != nil {
			return r, err
		}
		for _, s := range want {
			r.Checked++
			h, ok := held[s.Order.ID]
			d := Difference{ID: s.Order.ID, Store: [2]int64{s.Order.Version, s.BalanceAt}}
			if !ok {
				d.Kind = "missing"
				add(d)
				continue
			}
			matched++
			d.ReadModel = [2]int64{h.Order.Version, h.BalanceAt}
			switch {
			case s.Newer(h.Order.Version, h.BalanceAt):
				d.Kind = "behind"
			case h.Newer(s.Order.Version, s.BalanceAt):
				d.Kind = "ahead"
			case !sameContent(s, h.Snapshot):
				d.Kind = "differs"
			default:
				continue
			}
			add(d)
		}
		after = next
	}
	n, err := m.Count(ctx)
	if err != nil {
		return r, fmt.Errorf("readmodel: verify: %w", err)
	}
	r.Held = n
	if extra := n - matched; extra > 0 {
		ids, err := m.extra(ctx, src, min(extra, MaxDifferences))
		if err != nil {
			return r, err
		}
		for _, id := range ids {
			add(Difference{ID: id, Kind: "extra"})
		}
		r.Count += extra - int64(len(ids))
	}
	return r, nil
}

// sameContent compares what a list answers from: the order as JSON (lines
// included), the payment balance and the attributes.
func sameContent(a, b Snapshot) bool {
	ja, err1 := json.Marshal(a.Order)
	jb, err2 := json.Marshal(b.Order)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb) && a.Paid == b.Paid && a.Refunded == b.Refunded &&
		a.BalanceAt == b.BalanceAt && maps.Equal(nonNil(a.Attrs), nonNil(b.Attrs))
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// getMany reads the read model's rows of ids, by id.
func (m *Model) getMany(ctx context.Context, ids []string) (map[string]Held, error) {
	rows, err := m.pool.Query(ctx, `SELECT `+selectCols+` FROM rm_orders WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("readmodel: verify: %w", err)
	}
	held, err := scanHeld(rows)
	if err != nil {
		return nil, fmt.Errorf("readmodel: verify: %w", err)
	}
	out := make(map[string]Held, len(held))
	for _, h := range held {
		out[h.Order.ID] = h
	}
	return out, nil
}

// extra finds up to n ids the read model holds and the store does not, a
// page of the read model at a time.
func (m *Model) extra(ctx context.Context, src Source, n int64) ([]string, error) {
	var out []string
	after := ""
	for int64(len(out)) < n {
		rows, err := m.pool.Query(ctx, `SELECT id FROM rm_orders WHERE id > $1 ORDER BY id LIMIT 500`, after)
		if err != nil {
			return nil, fmt.Errorf("readmodel: verify: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("readmodel: verify: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("readmodel: verify: %w", err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		last := ids[len(ids)-1]
		have, err := src.Fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, s := range have {
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == s.Order.ID })
		}
		out = append(out, ids[:min(len(ids), int(n)-len(out))]...)
		after = last
	}
	return out, nil
}
