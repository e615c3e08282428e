package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// Book is the in-memory, versioned set of compiled promotions that
// promotion.candidates reads while orders are placed: ordering never waits
// for the database. Load or Refresh fill it from the tables; readers see
// one immutable snapshot, swapped atomically, and never wait. A Book is
// safe for concurrent use: Load, Refresh and Use serialise among
// themselves, MarkExhausted never blocks.
type Book struct {
	clock func() time.Time
	snap  atomic.Pointer[snapshot]
	mu    sync.Mutex // serialises Load, Refresh and Use
	marks atomic.Int64
}

// snapshot is one immutable state of a Book.
type snapshot struct {
	rules  []*rule // sorted by ID
	byID   map[string]*rule
	groups []string       // the declared stacking order
	rank   map[string]int // group → position in groups
	// fingerprint of tmf_promotions when loaded: row count and the sum of
	// versions, which grows with every write.
	count, versions int64
	// exhausted promotions: found with no budget left at the last refresh
	// (mark 0) or marked by the platform (mark > 0, the Book's mark counter).
	exhausted map[string]int64
}

// NewBook returns an empty Book: no promotions, no declared groups. clock
// tells the time the promotions' windows are checked against; nil means
// time.Now.
func NewBook(clock func() time.Time) *Book {
	if clock == nil {
		clock = time.Now
	}
	b := &Book{clock: clock}
	b.snap.Store(&snapshot{byID: map[string]*rule{}, rank: map[string]int{}, exhausted: map[string]int64{}})
	return b
}

// Now is the Book's clock.
func (b *Book) Now() time.Time { return b.clock() }

// Promotions lists the promotions of the current snapshot, by ID.
func (b *Book) Promotions() []Promotion {
	s := b.snap.Load()
	out := make([]Promotion, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.p.clone()
	}
	return out
}

// Promotion returns one promotion of the current snapshot.
func (b *Book) Promotion(id string) (Promotion, bool) {
	r, ok := b.snap.Load().byID[id]
	if !ok {
		return Promotion{}, false
	}
	return r.p.clone(), true
}

// GroupOrder is the declared stacking order of the exclusion groups.
// Groups not declared stack after these, in alphabetical order.
func (b *Book) GroupOrder() []string { return slices.Clone(b.snap.Load().groups) }

// Exhausted reports whether candidates currently leave the promotion out
// because its budget ran out.
func (b *Book) Exhausted(id string) bool {
	_, ok := b.snap.Load().exhausted[id]
	return ok
}

// MarkExhausted makes candidates stop offering the promotion, until a
// Refresh or Load finds money in its budget again. The platform calls it
// when Redeem answers *BudgetExhaustedError. It never touches the database
// and is safe to call concurrently with everything.
func (b *Book) MarkExhausted(id string) {
	mark := b.marks.Add(1)
	for {
		cur := b.snap.Load()
		if _, ok := cur.exhausted[id]; ok {
			return
		}
		next := *cur
		next.exhausted = maps.Clone(cur.exhausted)
		next.exhausted[id] = mark
		if b.snap.CompareAndSwap(cur, &next) {
			return
		}
	}
}

// Use replaces the Book's promotions and group order with the given ones,
// in memory only: for tests, demos and promotions configured in a file. It
// validates every promotion and changes nothing on error. A later Load or
// Refresh replaces them with the database's.
func (b *Book) Use(ps []Promotion, groups []string) error {
	if err := validateGroups(groups); err != nil {
		return err
	}
	var errs []error
	rules := make([]*rule, 0, len(ps))
	seen := map[string]bool{}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("promotion %s is listed twice", p.ID))
			continue
		}
		seen[p.ID] = true
		rules = append(rules, compile(p.normalized()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.install(newSnapshot(rules, groups, -1, -1), nil, b.marks.Load())
	return nil
}

// Load reads every promotion, the group order and the exhausted budgets
// from the database and installs them. A stored promotion that no longer
// validates is left out and named in the returned error; the others are
// installed all the same. Call it outside any transaction.
func (b *Book) Load(ctx context.Context, db *gorm.DB) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.refresh(ctx, db, true)
	return err
}

// Refresh brings the Book up to date with the database, cheaply: it
// reloads the promotions only when tmf_promotions changed (its row count
// or the sum of its versions, which every write increases), always reads
// the group order (a few rows) and which budgets are empty, and installs a
// new snapshot only if something differs. It reports whether it did. Call
// it periodically and after admin writes, outside any transaction.
func (b *Book) Refresh(ctx context.Context, db *gorm.DB) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refresh(ctx, db, false)
}

func (b *Book) refresh(ctx context.Context, db *gorm.DB, full bool) (bool, error) {
	db = db.WithContext(ctx)
	since := b.marks.Load()
	var fp struct{ N, V int64 }
	if err := db.Raw("SELECT COUNT(*) AS n, COALESCE(SUM(version), 0) AS v FROM tmf_promotions").Scan(&fp).Error; err != nil {
		return false, fmt.Errorf("promotion book: fingerprint: %w", err)
	}
	var groups []string
	if err := db.Model(&groupRow{}).Order("position").Pluck("name", &groups).Error; err != nil {
		return false, fmt.Errorf("promotion book: groups: %w", err)
	}
	var empty []string
	if err := db.Model(&BudgetBucket{}).Group("promotion_id").Having("SUM(remaining) <= 0").
		Pluck("promotion_id", &empty).Error; err != nil {
		return false, fmt.Errorf("promotion book: budgets: %w", err)
	}
	cur := b.snap.Load()
	var loadErr error
	next := cur
	if full || fp.N != cur.count || fp.V != cur.versions {
		ps, invalid, err := readPromotions(db)
		if err != nil {
			return false, err
		}
		loadErr = errors.Join(invalid...)
		rules := make([]*rule, len(ps))
		for i, p := range ps {
			rules[i] = compile(p)
		}
		next = newSnapshot(rules, groups, fp.N, fp.V)
	} else if !slices.Equal(groups, cur.groups) {
		next = newSnapshot(cur.rules, groups, cur.count, cur.versions)
	}
	changed := b.install(next, empty, since)
	return changed, loadErr
}

// install swaps in next with the exhausted set: the empty budgets found
// plus the marks made since the refresh began (the database read may
// predate them). It reports whether readers see anything new.
func (b *Book) install(next *snapshot, empty []string, since int64) bool {
	for {
		cur := b.snap.Load()
		ex := make(map[string]int64, len(empty))
		for _, id := range empty {
			ex[id] = 0
		}
		for id, mark := range cur.exhausted {
			if mark > since {
				ex[id] = mark
			}
		}
		if next == cur && sameKeys(ex, cur.exhausted) {
			return false
		}
		n := *next
		n.exhausted = ex
		if b.snap.CompareAndSwap(cur, &n) {
			return true
		}
	}
}

func sameKeys(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func newSnapshot(rules []*rule, groups []string, count, versions int64) *snapshot {
	rules = slices.Clone(rules)
	slices.SortFunc(rules, func(a, b *rule) int { return strings.Compare(a.p.ID, b.p.ID) })
	s := &snapshot{rules: rules, byID: make(map[string]*rule, len(rules)), groups: slices.Clone(groups),
		rank: make(map[string]int, len(groups)), count: count, versions: versions}
	for _, r := range rules {
		s.byID[r.p.ID] = r
	}
	for i, g := range groups {
		s.rank[g] = i
	}
	return s
}

// readPromotions reads every stored promotion, by ID. Rows that do not
// decode or validate are left out and reported in invalid.
func readPromotions(db *gorm.DB) (ps []Promotion, invalid []error, err error) {
	var rows []promotionRow
	if err := db.Order("id").Find(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("promotion book: read promotions: %w", err)
	}
	out := make([]Promotion, 0, len(rows))
	var bad []error
	for _, r := range rows {
		p, err := r.promotion()
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, p)
	}
	return out, bad, nil
}

// GetPromotion reads one promotion from the database (not from a Book), on
// any handle.
func GetPromotion(ctx context.Context, db *gorm.DB, id string) (Promotion, error) {
	var row promotionRow
	err := db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Promotion{}, &PromotionNotFoundError{ID: id}
	}
	if err != nil {
		return Promotion{}, fmt.Errorf("promotion %s: read: %w", id, err)
	}
	return row.promotion()
}

// PutPromotion validates p and writes it, in the caller's transaction or
// on a plain handle. With p.Version 0 it creates the promotion (a
// *VersionConflictError if the ID exists); otherwise p.Version must be the
// stored version (a *VersionConflictError if it is not). The stored
// version is bumped, the update time set from the Book's clock, and the
// promotion as stored is returned.
//
// A promotion created with a budget gets its budget rows and a "grant"
// move; a stored promotion without a budget may be given one the same
// way. Once there is a budget, Budget, BudgetBuckets and Currency must be
// sent back unchanged: a budget grows with TopUpBudget.
//
// Candidates see the change after the write commits and the Book is
// refreshed (Refresh or Load).
func (b *Book) PutPromotion(ctx context.Context, tx *gorm.DB, p Promotion) (Promotion, error) {
	p = p.normalized()
	if err := p.Validate(); err != nil {
		return Promotion{}, err
	}
	tx = tx.WithContext(ctx)
	now := dbutil.Stamp(b.clock())
	p.UpdatedAt = now
	grant := false
	if p.Version == 0 {
		p.Version = 1
		row, err := rowOf(p)
		if err != nil {
			return Promotion{}, err
		}
		row.CreatedAt = now
		ok, err := dbutil.InsertOnce(tx, &row)
		if err != nil {
			return Promotion{}, fmt.Errorf("promotion %s: create: %w", p.ID, err)
		}
		if !ok {
			cur, err := GetPromotion(ctx, tx, p.ID)
			if err != nil {
				return Promotion{}, err
			}
			return Promotion{}, &VersionConflictError{ID: p.ID, Expected: 0, Actual: cur.Version}
		}
		grant = p.Budget > 0
	} else {
		cur, err := GetPromotion(ctx, tx, p.ID)
		if err != nil {
			return Promotion{}, err
		}
		if cur.Version != p.Version {
			return Promotion{}, &VersionConflictError{ID: p.ID, Expected: p.Version, Actual: cur.Version}
		}
		if cur.Budget > 0 {
			v := &InvalidPromotionError{ID: p.ID}
			if p.Budget != cur.Budget {
				v.add("budget", "is %d, not %d: a budget cannot be set again; add to it with a top-up", cur.Budget, p.Budget)
			}
			if p.BudgetBuckets != cur.BudgetBuckets {
				v.add("budgetBuckets", "is %d, not %d: a budget's buckets cannot change", cur.BudgetBuckets, p.BudgetBuckets)
			}
			if p.Currency != cur.Currency {
				v.add("currency", "is %s, not %s: the budget is in %s", cur.Currency, p.Currency, cur.Currency)
			}
			if len(v.Problems) > 0 {
				return Promotion{}, v
			}
		}
		grant = cur.Budget == 0 && p.Budget > 0
		row, err := rowOf(p)
		if err != nil {
			return Promotion{}, err
		}
		res := tx.Exec("UPDATE tmf_promotions SET name = ?, kind = ?, group_name = ?, currency = ?, coupon_required = ?, "+
			"enabled = ?, budget = ?, budget_buckets = ?, conditions = ?, params = ?, version = version + 1, updated_at = ? "+
			"WHERE id = ? AND version = ?",
			row.Name, row.Kind, row.GroupName, row.Currency, row.CouponRequired, row.Enabled, row.Budget, row.BudgetBuckets,
			row.Conditions, row.Params, now, p.ID, p.Version)
		if res.Error != nil {
			return Promotion{}, fmt.Errorf("promotion %s: update: %w", p.ID, res.Error)
		}
		if res.RowsAffected != 1 { // changed since it was read
			latest, err := GetPromotion(ctx, tx, p.ID)
			if err != nil {
				return Promotion{}, err
			}
			return Promotion{}, &VersionConflictError{ID: p.ID, Expected: p.Version, Actual: latest.Version}
		}
		p.Version++
	}
	if grant {
		if err := addBudget(tx, p, MoveGrant, "initial", p.Budget, now); err != nil {
			return Promotion{}, err
		}
	}
	return p, nil
}

// SetGroupOrder declares the stacking order of the exclusion groups,
// replacing the previous one. Run it in a transaction (it deletes the old
// order and writes the new one). Groups not listed stack after these,
// alphabetically. Candidates see it after the Book is refreshed.
func (b *Book) SetGroupOrder(ctx context.Context, tx *gorm.DB, groups []string) error {
	if err := validateGroups(groups); err != nil {
		return err
	}
	tx = tx.WithContext(ctx)
	if err := tx.Exec("DELETE FROM tmf_promotion_groups").Error; err != nil {
		return fmt.Errorf("promotion groups: %w", err)
	}
	now := dbutil.Stamp(b.clock())
	for i, g := range groups {
		if err := tx.Create(&groupRow{Name: g, Position: i, UpdatedAt: now}).Error; err != nil {
			return fmt.Errorf("promotion groups: %w", err)
		}
	}
	return nil
}

func validateGroups(groups []string) error {
	v := &InvalidPromotionError{ID: "(group order)"}
	seen := map[string]bool{}
	for _, g := range groups {
		if !keyPattern.MatchString(g) {
			v.add("groups", "group %q must be 1 to %d letters, digits, '.', '_' or '-'", g, MaxIDLen)
		} else if seen[g] {
			v.add("groups", "group %q is listed twice", g)
		}
		seen[g] = true
	}
	if len(v.Problems) > 0 {
		return v
	}
	return nil
}

// rowOf is a promotion as stored, its conditions and parameters as JSON.
func rowOf(p Promotion) (promotionRow, error) {
	cond, err := json.Marshal(p.Conditions)
	if err != nil {
		return promotionRow{}, fmt.Errorf("promotion %s: conditions: %w", p.ID, err)
	}
	params, err := json.Marshal(p.Params)
	if err != nil {
		return promotionRow{}, fmt.Errorf("promotion %s: params: %w", p.ID, err)
	}
	return promotionRow{ID: p.ID, Name: p.Name, Kind: string(p.Kind), GroupName: p.Group, Currency: p.Currency,
		CouponRequired: p.CouponRequired, Enabled: p.Enabled, Budget: p.Budget, BudgetBuckets: p.BudgetBuckets,
		Conditions: string(cond), Params: string(params), Version: p.Version, UpdatedAt: p.UpdatedAt}, nil
}

func (r promotionRow) promotion() (Promotion, error) {
	p := Promotion{ID: r.ID, Name: r.Name, Kind: Kind(r.Kind), Group: r.GroupName, Currency: r.Currency,
		CouponRequired: r.CouponRequired, Enabled: r.Enabled, Budget: r.Budget, BudgetBuckets: r.BudgetBuckets,
		Version: r.Version, UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal([]byte(r.Conditions), &p.Conditions); err != nil {
		return Promotion{}, fmt.Errorf("promotion %s: stored conditions: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Params), &p.Params); err != nil {
		return Promotion{}, fmt.Errorf("promotion %s: stored params: %w", r.ID, err)
	}
	return p.normalized(), nil
}

// clone copies the promotion's slices and times, so that callers cannot
// change a snapshot.
func (p Promotion) clone() Promotion {
	c := &p.Conditions
	c.SKUs, c.Categories, c.Identities = slices.Clone(c.SKUs), slices.Clone(c.Categories), slices.Clone(c.Identities)
	c.Channels, c.BuyerTags = slices.Clone(c.Channels), slices.Clone(c.BuyerTags)
	if c.StartsAt != nil {
		t := *c.StartsAt
		c.StartsAt = &t
	}
	if c.EndsAt != nil {
		t := *c.EndsAt
		c.EndsAt = &t
	}
	return p
}

// groupOrder sorts groups for stacking: declared ones by rank, then the
// others alphabetically.
func groupOrder(groups []string, rank map[string]int) {
	sort.SliceStable(groups, func(i, j int) bool {
		ri, oki := rank[groups[i]]
		rj, okj := rank[groups[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return groups[i] < groups[j]
	})
}
