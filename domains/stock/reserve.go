package stock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"gorm.io/gorm"
)

// LineQty is a quantity of an order line.
type LineQty struct {
	// LineNo is the order line's number, unique within the order; zero
	// means the line's 1-based position in the request.
	LineNo int `json:"lineNo"`
	// SKU of the line. Return checks it against the shipped line when set.
	SKU      string `json:"sku,omitempty"`
	Quantity int64  `json:"quantity"`
}

// ReserveRequest is the stock an order reserves at the location routing
// chose.
type ReserveRequest struct {
	OrderID  string
	Location string
	// Channel the order comes from; empty for none. It decides which slots
	// the order may take from (see the package documentation).
	Channel string
	// BuyerID routes the order to one of a hot SKU's buckets.
	BuyerID string
	Lines   []LineQty
}

// part is the piece of a line's reservation taken from one slot, and the
// channel whose shared cap it counts against ("" when none).
type part struct {
	slot    string
	qty     int64
	channel string
}

func partKey(orderID string, lineNo, part int, what string) string {
	return fmt.Sprintf("%s/%d/%d/%s", orderID, lineNo, part, what)
}

// Reserve moves every line's quantity from sellable to reserved at
// req.Location, writing one reserve row per part of a line (a line may take
// part from the channel's slot and the rest from the common pool). It must
// run inside the order's transaction: it never opens one, and after an
// error the transaction must be rolled back, since earlier lines may have
// moved already. Lines are handled in SKU order, so that concurrent orders
// take rows in the same order.
//
// Idempotent per order line: the line's first reserve row (key
// <order>/<line>/1/reserve) is inserted before anything moves, and a line
// whose row exists (a retry, a concurrent duplicate that committed first)
// is left alone.
//
// Which slots a line takes from: the channel's own slot first when the SKU
// is exclusive to the channel or the channel has stock set aside (mutex),
// as much as it holds; the rest from the common pool if the channel may
// take from it (see the package documentation for the rule), counted
// against its shared cap when it has one. A bucketed SKU's pool is taken
// from the buyer's bucket, else the next bucket (in order, wrapping) that
// covers the rest, else the pool slot; when none covers it but together
// they do, every other bucket and the pool slot are merged into the buyer's
// bucket and it is taken from there.
//
// A line that cannot be covered refuses with *OutOfStockError.
func Reserve(ctx context.Context, tx *gorm.DB, req ReserveRequest) error {
	lines, err := req.check()
	if err != nil {
		return fmt.Errorf("stock: reserve: %w", err)
	}
	db := tx.WithContext(ctx)
	skus := make([]string, 0, len(lines))
	for _, l := range lines {
		if len(skus) == 0 || skus[len(skus)-1] != l.SKU {
			skus = append(skus, l.SKU)
		}
	}
	confs, err := loadConfs(db, skus, req.Location)
	if err != nil {
		return fmt.Errorf("stock: reserve order %s: %w", req.OrderID, err)
	}
	at := now()
	for _, l := range lines {
		c := confs[skuLoc{l.SKU, req.Location}]
		if c == nil {
			c = &conf{}
		}
		r := reserver{db: db, req: req, line: l, c: c, at: at}
		if err := r.reserve(); err != nil {
			return fmt.Errorf("stock: reserve order %s line %d: %w", req.OrderID, l.LineNo, err)
		}
	}
	return nil
}

// check validates the request and returns its lines with line numbers set,
// sorted by SKU then line number.
func (req ReserveRequest) check() ([]LineQty, error) {
	err := errors.Join(checkKey("order id", req.OrderID, MaxOrderID), checkKey("location", req.Location, MaxLocation))
	if len(req.Channel) > MaxChannel {
		err = errors.Join(err, invalid("channel %.20q… longer than %d bytes", req.Channel, MaxChannel))
	}
	lines, lerr := checkLines(req.Lines, true)
	if err = errors.Join(err, lerr); err != nil {
		return nil, err
	}
	slices.SortFunc(lines, func(a, b LineQty) int { return cmp.Or(strings.Compare(a.SKU, b.SKU), a.LineNo-b.LineNo) })
	return lines, nil
}

// checkLines fills in zero line numbers and checks that numbers are unique
// and quantities positive; with needSKU, that every line names a SKU.
func checkLines(in []LineQty, needSKU bool) ([]LineQty, error) {
	if len(in) == 0 {
		return nil, invalid("no lines")
	}
	lines := slices.Clone(in)
	seen := map[int]bool{}
	for i := range lines {
		l := &lines[i]
		l.LineNo = cmp.Or(l.LineNo, i+1)
		switch {
		case l.LineNo < 0:
			return nil, invalid("line number %d", l.LineNo)
		case seen[l.LineNo]:
			return nil, invalid("line %d given twice", l.LineNo)
		case l.Quantity <= 0:
			return nil, invalid("line %d: quantity %d", l.LineNo, l.Quantity)
		case len(l.SKU) > MaxSKU || (needSKU && l.SKU == ""):
			return nil, checkKey(fmt.Sprintf("line %d sku", l.LineNo), l.SKU, MaxSKU)
		}
		seen[l.LineNo] = true
	}
	return lines, nil
}

// reserver reserves one line.
type reserver struct {
	db   *gorm.DB
	req  ReserveRequest
	line LineQty
	c    *conf
	at   time.Time
}

func (r *reserver) reserve() error {
	l, req := r.line, r.req
	planned := r.plan()
	claim := LedgerEntry{MoveKey: partKey(req.OrderID, l.LineNo, 1, KindReserve), SKU: l.SKU, Location: req.Location,
		Slot: planned.slot, OrderID: req.OrderID, LineNo: l.LineNo, Part: 1, Channel: planned.channel,
		Kind: KindReserve, Quantity: l.Quantity, CreatedAt: r.at}
	inserted, err := insertLedgerOnce(r.db, &claim)
	if err != nil {
		return fmt.Errorf("write reserve row: %w", err)
	}
	if !inserted {
		prev, err := existingRow(r.db, claim.MoveKey, true)
		if err != nil {
			return err
		}
		if prev.SKU != l.SKU || prev.Location != req.Location {
			return invalid("order %s line %d is reserved already for %s at %s", req.OrderID, l.LineNo, prev.SKU, prev.Location)
		}
		return nil // reserved by an earlier call
	}
	parts, err := r.take()
	if err != nil {
		return err
	}
	if first := parts[0]; first != planned {
		if err := r.db.Exec("UPDATE tmf_stock_ledger SET slot = ?, quantity = ?, channel = ? WHERE move_key = ?",
			first.slot, first.qty, first.channel, claim.MoveKey).Error; err != nil {
			return fmt.Errorf("write reserve row: %w", err)
		}
	}
	if len(parts) == 1 {
		return nil
	}
	rest := make([]LedgerEntry, 0, len(parts)-1)
	for i, p := range parts[1:] {
		rest = append(rest, LedgerEntry{MoveKey: partKey(req.OrderID, l.LineNo, i+2, KindReserve), SKU: l.SKU,
			Location: req.Location, Slot: p.slot, OrderID: req.OrderID, LineNo: l.LineNo, Part: i + 2,
			Channel: p.channel, Kind: KindReserve, Quantity: p.qty, CreatedAt: r.at})
	}
	if err := r.db.Create(&rest).Error; err != nil {
		return fmt.Errorf("write reserve rows: %w", err)
	}
	return nil
}

// plan is the part the line most likely takes whole: what its claim row
// says until the line is taken.
func (r *reserver) plan() part {
	ch := r.req.Channel
	if slot, ok := r.c.ownSlot(ch); ok {
		return part{slot: slot, qty: r.line.Quantity}
	}
	p := part{slot: PoolSlot, qty: r.line.Quantity}
	if r.c.buckets >= 2 {
		p.slot = BucketSlot(dbutil.Bucket(r.req.BuyerID, r.c.buckets))
	}
	if r.c.poolAccess(ch) == poolCapped {
		p.channel = ch
	}
	return p
}

// take moves the line's quantity to reserved and returns the parts.
func (r *reserver) take() ([]part, error) {
	ch, rem := r.req.Channel, r.line.Quantity
	var parts []part
	var own int64
	if slot, ok := r.c.ownSlot(ch); ok {
		got, err := r.takeUpTo(slot, rem)
		if err != nil {
			return nil, err
		}
		if got > 0 {
			parts, rem, own = append(parts, part{slot: slot, qty: got}), rem-got, got
		}
	}
	if rem == 0 {
		return parts, nil
	}
	access := r.c.poolAccess(ch)
	if access == poolNone {
		return nil, r.outOfStock(own, 0)
	}
	p := part{qty: rem}
	if access == poolCapped {
		res := r.db.Exec("UPDATE tmf_stock_channels SET used = used + ?, updated_at = ? "+
			"WHERE sku = ? AND location = ? AND channel = ? AND mode = ? AND cap >= 0 AND used + ? <= cap",
			rem, r.at, r.line.SKU, r.req.Location, ch, ModeShared, rem)
		if res.Error != nil {
			return nil, fmt.Errorf("count %d against the cap of channel %s: %w", rem, ch, res.Error)
		}
		if res.RowsAffected != 1 {
			return nil, r.outOfStock(own, 0)
		}
		p.channel = ch
	}
	slot, ok, err := r.takePool(rem)
	if err != nil {
		return nil, err
	}
	if !ok {
		counted := int64(0)
		if p.channel != "" {
			counted = rem
		}
		return nil, r.outOfStock(own, counted)
	}
	p.slot = slot
	return append(parts, p), nil
}

// takeUpTo reserves up to want from slot: all of it if the slot covers it,
// else what a read finds there (nothing if a concurrent order took that
// first).
func (r *reserver) takeUpTo(slot string, want int64) (int64, error) {
	sku, loc := r.line.SKU, r.req.Location
	ok, err := transfer(r.db, KindReserve, sku, loc, slot, want, r.at)
	if err != nil || ok {
		return want, err
	}
	sellable, err := readSellable(r.db, sku, loc)
	if err != nil {
		return 0, err
	}
	got := min(sellable[slot], want)
	if got <= 0 {
		return 0, nil
	}
	if ok, err = transfer(r.db, KindReserve, sku, loc, slot, got, r.at); err != nil || !ok {
		return 0, err
	}
	return got, nil
}

// takePool reserves q from the common pool and returns the slot it came from.
func (r *reserver) takePool(q int64) (string, bool, error) {
	sku, loc, n := r.line.SKU, r.req.Location, r.c.buckets
	if n < 2 {
		ok, err := transfer(r.db, KindReserve, sku, loc, PoolSlot, q, r.at)
		return PoolSlot, ok, err
	}
	h := dbutil.Bucket(r.req.BuyerID, n)
	home := BucketSlot(h)
	if ok, err := transfer(r.db, KindReserve, sku, loc, home, q, r.at); err != nil || ok {
		return home, ok, err
	}
	sellable, err := readSellable(r.db, sku, loc)
	if err != nil {
		return "", false, err
	}
	fallback := make([]string, 0, n)
	for k := 1; k < n; k++ {
		fallback = append(fallback, BucketSlot((h+k)%n))
	}
	fallback = append(fallback, PoolSlot)
	for _, slot := range fallback {
		if sellable[slot] < q {
			continue
		}
		if ok, err := r.takeFree(slot, q); err != nil || ok {
			return slot, ok, err
		}
	}
	var total int64
	for _, slot := range r.c.poolSlots() {
		total += max(sellable[slot], 0)
	}
	if total < q {
		return "", false, nil
	}
	// No single bucket covers q but together they do: merge them back
	// into the buyer's bucket.
	if err := r.merge(home, fallback); err != nil {
		return "", false, err
	}
	ok, err := transfer(r.db, KindReserve, sku, loc, home, q, r.at)
	return home, ok, err
}

// takeFree reserves q from a fallback slot unless another transaction
// holds the slot: it never waits for it. A failed conditional update keeps
// its row locked on MySQL (REPEATABLE READ) until commit, so two orders
// each holding its own bucket and waiting for the other's would deadlock;
// probing with FOR UPDATE SKIP LOCKED first (a fresh read of a row no one
// else holds) leaves busy buckets out instead. The move itself is the usual
// conditional update.
func (r *reserver) takeFree(slot string, q int64) (bool, error) {
	sku, loc := r.line.SKU, r.req.Location
	if dbutil.Dialect(r.db) != dbutil.SQLite { // SQLite has one writer and no row locks
		var free []int64
		if err := r.db.Raw("SELECT sellable FROM tmf_stock_slots WHERE sku = ? AND location = ? AND slot = ? "+
			"FOR UPDATE SKIP LOCKED", sku, loc, slot).Scan(&free).Error; err != nil {
			return false, fmt.Errorf("probe slot %q of %s at %s: %w", slot, sku, loc, err)
		}
		if len(free) == 0 || free[0] < q {
			return false, nil
		}
	}
	return transfer(r.db, KindReserve, sku, loc, slot, q, r.at)
}

// merge moves the sellable stock of sources into home. It locks home
// first, then gathers only the sources no other transaction holds (FOR
// UPDATE SKIP LOCKED): a merge never waits for a bucket another order is
// using, so two merges into different buckets cannot deadlock. What it
// gathers it moves with conditional updates, like every other move.
func (r *reserver) merge(home string, sources []string) error {
	sku, loc := r.line.SKU, r.req.Location
	if err := r.db.Exec("UPDATE tmf_stock_slots SET updated_at = ? WHERE sku = ? AND location = ? AND slot = ?",
		r.at, sku, loc, home).Error; err != nil {
		return fmt.Errorf("lock slot %q of %s at %s: %w", home, sku, loc, err)
	}
	q := "SELECT slot, sellable FROM tmf_stock_slots WHERE sku = ? AND location = ? AND slot IN ? AND sellable > 0 ORDER BY slot"
	if dbutil.Dialect(r.db) != dbutil.SQLite { // SQLite has one writer and no row locks
		q += " FOR UPDATE SKIP LOCKED"
	}
	var free []struct {
		Slot     string
		Sellable int64
	}
	if err := r.db.Raw(q, sku, loc, sources).Scan(&free).Error; err != nil {
		return fmt.Errorf("read the buckets of %s at %s: %w", sku, loc, err)
	}
	j := newJournal("merge", fmt.Sprintf("buckets of %s merged into %s for order %s", sku, home, r.req.OrderID), r.at)
	for _, f := range free {
		if _, err := moveSellable(r.db, j, sku, loc, f.Slot, home, f.Sellable); err != nil {
			return err
		}
	}
	return j.flush(r.db)
}

// outOfStock builds the refusal of the line. own is what the line took from
// its channel's slot already, counted what it counted against its cap.
func (r *reserver) outOfStock(own, counted int64) error {
	e := &OutOfStockError{SKU: r.line.SKU, Location: r.req.Location, Channel: r.req.Channel, Requested: r.line.Quantity}
	sellable, err := readSellable(r.db, r.line.SKU, r.req.Location)
	if err != nil {
		return err
	}
	c := *r.c
	if sh, ok := c.shared[r.req.Channel]; ok {
		var used []int64
		if err := r.db.Raw("SELECT used FROM tmf_stock_channels WHERE sku = ? AND location = ? AND channel = ? AND mode = ?",
			r.line.SKU, r.req.Location, r.req.Channel, ModeShared).Scan(&used).Error; err != nil {
			return fmt.Errorf("read cap of channel %s: %w", r.req.Channel, err)
		}
		if len(used) == 1 {
			sh.Used = used[0] - counted
			c.shared = map[string]ChannelRow{r.req.Channel: sh}
		}
	}
	e.Available = own + c.available(r.req.Channel, sellable)
	return e
}
