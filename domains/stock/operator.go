package stock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/platform/store/changes"
)

// PutLocation inserts or replaces a stock location. Regions are
// comma-separated (spaces around names are dropped); empty means the
// location ships everywhere. It runs in the given handle (the platform
// passes a transaction).
func PutLocation(ctx context.Context, tx *gorm.DB, loc Location) error {
	if err := checkKey("location", loc.Name, MaxLocation); err != nil {
		return fmt.Errorf("stock: put location: %w", err)
	}
	loc.Regions = strings.Join(splitRegions(loc.Regions), ",")
	if len(loc.Regions) > 1024 {
		return fmt.Errorf("stock: put location %s: %w", loc.Name, invalid("regions longer than 1024 bytes"))
	}
	if err := tx.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&loc).Error; err != nil {
		return fmt.Errorf("stock: put location %s: %w", loc.Name, err)
	}
	if err := changes.Mark(tx.WithContext(ctx), changes.Stock); err != nil {
		return fmt.Errorf("stock: put location %s: %w", loc.Name, err)
	}
	return nil
}

// Locations returns every stock location, highest priority first, then by
// name. It only reads. The list comes from the store's cache (package changes: PutLocation and a location created by
// SetSellable invalidate it in every process).
func Locations(ctx context.Context, db *gorm.DB) ([]Location, error) {
	db = db.WithContext(ctx)
	cache := changes.CacheOf[[]Location](changes.Readable(db), "stock.locations", changes.Stock, 1)
	out, err := cache.Get("", func() ([]Location, error) {
		var out []Location
		err := db.Order("priority DESC").Order("name").Find(&out).Error
		return out, err
	})
	if err != nil {
		return nil, fmt.Errorf("stock: locations: %w", err)
	}
	return slices.Clone(out), nil
}

func splitRegions(s string) []string {
	var out []string
	for r := range strings.SplitSeq(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// SetSellable sets the total sellable quantity of sku at location (the sum
// over its slots) and returns the new level. The location (priority 0,
// every region) and the pool slot are created when absent. It runs in the
// given transaction and opens none.
//
// The change is target minus the total read at the start, written as
// adjust rows (one per slot changed, with reason): an increase goes to the
// exclusive channel's slot when the SKU has one, else is spread evenly over
// the buckets (the first ones get the remainder) when it is bucketed, else
// to the pool slot; a decrease is taken with conditional updates from the
// exclusive channel's slot (if any), the pool slot, the buckets, then the
// channels' set-asides. Reservations committed meanwhile are never
// overwritten; when they took what the decrease needed, SetSellable refuses
// with *OutOfStockError and the caller rolls back and retries.
func SetSellable(ctx context.Context, tx *gorm.DB, sku, location string, sellable int64, reason string) (Level, error) {
	fail := func(err error) (Level, error) {
		return Level{}, fmt.Errorf("stock: set sellable of %s at %s: %w", sku, location, err)
	}
	if err := errors.Join(checkKey("sku", sku, MaxSKU), checkKey("location", location, MaxLocation)); err != nil {
		return fail(err)
	}
	if sellable < 0 {
		return fail(invalid("negative quantity %d", sellable))
	}
	db := tx.WithContext(ctx)
	at := now()
	if err := errors.Join(ensureLocation(db, location), ensureSlot(db, sku, location, PoolSlot, at)); err != nil {
		return fail(err)
	}
	c, err := loadConf(db, sku, location)
	if err != nil {
		return fail(err)
	}
	s, err := readSellable(db, sku, location)
	if err != nil {
		return fail(err)
	}
	var current int64
	for _, v := range s {
		current += v
	}
	j := newJournal(KindAdjust, reason, at)
	switch d := sellable - current; {
	case d > 0:
		for _, sh := range increaseShares(c, d) {
			if _, ok := s[sh.slot]; !ok {
				if err := ensureSlot(db, sku, location, sh.slot, at); err != nil {
					return fail(err)
				}
			}
			if err := addSellable(db, sku, location, sh.slot, sh.qty, at); err != nil {
				return fail(err)
			}
			j.add(KindAdjust, sku, location, sh.slot, sh.qty)
		}
	case d < 0:
		need := -d
		for _, slot := range decreaseOrder(c, s) {
			t := min(need, s[slot])
			if t <= 0 {
				continue
			}
			ok, err := takeSellable(db, sku, location, slot, t, at)
			if err != nil {
				return fail(err)
			}
			if ok {
				j.add(KindAdjust, sku, location, slot, -t)
				if need -= t; need == 0 {
					break
				}
			}
		}
		if need > 0 {
			return fail(&OutOfStockError{SKU: sku, Location: location, Requested: -d, Available: -d - need})
		}
	}
	if err := j.flush(db); err != nil {
		return fail(err)
	}
	lv, err := levels(db, location, sku)
	if err != nil || len(lv) != 1 {
		return fail(fmt.Errorf("read level back: %v", err))
	}
	return lv[0], nil
}

type share struct {
	slot string
	qty  int64
}

// increaseShares is where an increase of d goes.
func increaseShares(c *conf, d int64) []share {
	switch {
	case c.exclusive != "":
		return []share{{ChannelSlot(c.exclusive), d}}
	case c.buckets >= 2:
		return spread(c.buckets, d)
	}
	return []share{{PoolSlot, d}}
}

// spread divides d evenly over n buckets, the first ones getting one more
// until the remainder is used up; empty shares are left out.
func spread(n int, d int64) []share {
	var out []share
	for i := range n {
		q := d / int64(n)
		if int64(i) < d%int64(n) {
			q++
		}
		if q > 0 {
			out = append(out, share{BucketSlot(i), q})
		}
	}
	return out
}

// decreaseOrder is the order a decrease takes from the slots of s: the
// exclusive channel's slot, the pool slot, the buckets, the other slots by
// name.
func decreaseOrder(c *conf, s map[string]int64) []string {
	var out []string
	if c.exclusive != "" {
		out = append(out, ChannelSlot(c.exclusive))
	}
	out = append(out, c.poolSlots()...)
	for _, slot := range sortedSlots(s) {
		if !slices.Contains(out, slot) {
			out = append(out, slot)
		}
	}
	return out
}

// ChannelConfig is a channel setting of a SKU at a location.
type ChannelConfig struct {
	SKU      string `json:"sku"`
	Location string `json:"location"`
	Channel  string `json:"channel"`
	// Mode is ModeShared, ModeMutex or ModeExclusive.
	Mode string `json:"mode"`
	// Quantity: for shared, the cap (0 blocks the channel from the pool);
	// for mutex, what the channel's slot should hold sellable from now on;
	// ignored for exclusive.
	Quantity int64 `json:"quantity,omitempty"`
}

// SetChannel creates or changes a channel setting (reference 004 §2.1.4).
// It runs in the given transaction and opens none.
//
//   - shared: sets the cap on what the channel may hold from the common pool
//     (reserved, frozen or shipped and not returned). Lowering it below what
//     is used refuses the channel's pool reservations until enough comes
//     back; nothing moves.
//   - mutex: the channel's slot is brought to Quantity sellable: an increase
//     moves stock from the common pool (pool slot first, then the buckets),
//     refusing with *OutOfStockError when the pool has less; a decrease
//     gives the difference back to the pool slot.
//   - exclusive: every sellable unit of the SKU at the location moves into
//     the channel's slot; later increases of SetSellable go there, and only
//     this channel can reserve the SKU at the location.
//
// An exclusive setting must be the only setting of the SKU at the location
// and excludes buckets; a shared or mutex setting next to an exclusive one
// is refused too: *ConflictError. Moves are written as allocate rows.
func SetChannel(ctx context.Context, tx *gorm.DB, cfg ChannelConfig) error {
	fail := func(err error) error {
		return fmt.Errorf("stock: set %s channel %s of %s at %s: %w", cfg.Mode, cfg.Channel, cfg.SKU, cfg.Location, err)
	}
	if err := checkChannelArgs(cfg.SKU, cfg.Location, cfg.Channel, cfg.Mode); err != nil {
		return fail(err)
	}
	if cfg.Quantity < 0 {
		return fail(invalid("negative quantity %d", cfg.Quantity))
	}
	db := tx.WithContext(ctx)
	at := now()
	sku, loc, ch := cfg.SKU, cfg.Location, cfg.Channel
	// Every process forgets that the SKU had no channel settings.
	if err := changes.Mark(db, changes.Stock); err != nil {
		return fail(err)
	}
	if err := errors.Join(ensureLocation(db, loc), ensureSlot(db, sku, loc, PoolSlot, at)); err != nil {
		return fail(err)
	}
	c, err := loadConf(db, sku, loc)
	if err != nil {
		return fail(err)
	}
	conflict := func(reason string) error {
		return fail(&ConflictError{SKU: sku, Location: loc, Channel: ch, Mode: cfg.Mode, Reason: reason})
	}
	if c.exclusive != "" && !(cfg.Mode == ModeExclusive && c.exclusive == ch) {
		return conflict("the SKU is exclusive to channel " + c.exclusive)
	}
	row := ChannelRow{SKU: sku, Location: loc, Channel: ch, Mode: cfg.Mode, Cap: cfg.Quantity, UpdatedAt: at}
	if cfg.Mode == ModeExclusive {
		for _, r := range c.rows {
			if r.Mode != ModeExclusive {
				return conflict(fmt.Sprintf("channel %s has a %s setting", r.Channel, r.Mode))
			}
		}
		if c.buckets > 0 {
			return conflict(fmt.Sprintf("the SKU is split into %d buckets", c.buckets))
		}
		row.Cap = 0
	}
	inserted, err := dbutil.InsertOnce(db, &row)
	if err != nil {
		return fail(fmt.Errorf("write setting: %w", err))
	}
	if !inserted {
		if err := db.Exec("UPDATE tmf_stock_channels SET cap = ?, updated_at = ? "+
			"WHERE sku = ? AND location = ? AND channel = ? AND mode = ?", row.Cap, at, sku, loc, ch, cfg.Mode).Error; err != nil {
			return fail(fmt.Errorf("write setting: %w", err))
		}
	}
	if cfg.Mode == ModeShared {
		return nil
	}
	own := ChannelSlot(ch)
	if err := ensureSlot(db, sku, loc, own, at); err != nil {
		return fail(err)
	}
	s, err := readSellable(db, sku, loc)
	if err != nil {
		return fail(err)
	}
	j := newJournal(KindAllocate, fmt.Sprintf("%s channel %s", cfg.Mode, ch), at)
	if cfg.Mode == ModeExclusive {
		// Everything sellable, wherever it is, moves to the channel.
		for _, slot := range sortedSlots(s) {
			if slot == own || s[slot] <= 0 {
				continue
			}
			ok, err := moveSellable(db, j, sku, loc, slot, own, s[slot])
			if err != nil {
				return fail(err)
			}
			if !ok {
				return fail(&OutOfStockError{SKU: sku, Location: loc, Channel: ch, Requested: s[slot]})
			}
		}
		return fail0(fail, j.flush(db))
	}
	switch cur := s[own]; {
	case cfg.Quantity > cur:
		need := cfg.Quantity - cur
		for _, slot := range c.poolSlots() {
			t := min(need, s[slot])
			if t <= 0 {
				continue
			}
			ok, err := moveSellable(db, j, sku, loc, slot, own, t)
			if err != nil {
				return fail(err)
			}
			if ok {
				if need -= t; need == 0 {
					break
				}
			}
		}
		if need > 0 {
			return fail(&OutOfStockError{SKU: sku, Location: loc, Requested: cfg.Quantity - cur,
				Available: cfg.Quantity - cur - need})
		}
	case cfg.Quantity < cur:
		ok, err := moveSellable(db, j, sku, loc, own, PoolSlot, cur-cfg.Quantity)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(&OutOfStockError{SKU: sku, Location: loc, Channel: ch, Requested: cur - cfg.Quantity})
		}
	}
	return fail0(fail, j.flush(db))
}

// fail0 wraps err with fail unless it is nil.
func fail0(fail func(error) error, err error) error {
	if err != nil {
		return fail(err)
	}
	return nil
}

func checkChannelArgs(sku, location, channel, mode string) error {
	err := errors.Join(checkKey("sku", sku, MaxSKU), checkKey("location", location, MaxLocation),
		checkKey("channel", channel, MaxChannel))
	if mode != ModeShared && mode != ModeMutex && mode != ModeExclusive {
		err = errors.Join(err, invalid("mode %q is not shared, mutex or exclusive", mode))
	}
	return err
}

// RemoveChannel removes a channel setting. It runs in the given
// transaction and opens none; removing what does not exist does nothing.
//
//   - shared: the cap goes; while the channel still holds stock counted
//     under it, the row stays with Cap NoCap (limiting nothing) so that
//     release, unfreeze and return can give back to it, and goes when its
//     Used reaches zero.
//   - mutex, exclusive: the setting goes and the sellable stock of the
//     channel's slot moves back to the pool slot (allocate rows). Stock the
//     channel's orders later give back into the slot flows on to the pool.
func RemoveChannel(ctx context.Context, tx *gorm.DB, sku, location, channel, mode string) error {
	fail := func(err error) error {
		return fmt.Errorf("stock: remove %s channel %s of %s at %s: %w", mode, channel, sku, location, err)
	}
	if err := checkChannelArgs(sku, location, channel, mode); err != nil {
		return fail(err)
	}
	db := tx.WithContext(ctx)
	at := now()
	const where = " WHERE sku = ? AND location = ? AND channel = ? AND mode = ?"
	if mode == ModeShared {
		res := db.Exec("DELETE FROM tmf_stock_channels"+where+" AND used = 0", sku, location, channel, mode)
		if res.Error != nil {
			return fail(res.Error)
		}
		if res.RowsAffected == 0 {
			if err := db.Exec("UPDATE tmf_stock_channels SET cap = ?, updated_at = ?"+where, NoCap, at,
				sku, location, channel, mode).Error; err != nil {
				return fail(err)
			}
		}
		return nil
	}
	if err := db.Exec("DELETE FROM tmf_stock_channels"+where, sku, location, channel, mode).Error; err != nil {
		return fail(err)
	}
	s, err := readSellable(db, sku, location)
	if err != nil {
		return fail(err)
	}
	own := ChannelSlot(channel)
	if s[own] <= 0 {
		return nil
	}
	c, err := loadConf(db, sku, location)
	if err != nil {
		return fail(err)
	}
	if c.live(own) { // the channel keeps its slot under its other setting
		return nil
	}
	if err := ensureSlot(db, sku, location, PoolSlot, at); err != nil {
		return fail(err)
	}
	j := newJournal(KindAllocate, fmt.Sprintf("%s channel %s removed", mode, channel), at)
	ok, err := moveSellable(db, j, sku, location, own, PoolSlot, s[own])
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(&OutOfStockError{SKU: sku, Location: location, Channel: channel, Requested: s[own]})
	}
	return fail0(fail, j.flush(db))
}

// SplitBuckets splits the common pool of a hot SKU at a location into n
// buckets (2 … MaxBuckets): the sellable stock of the pool slot (and of the
// old buckets, when it was split before) moves evenly into slots b:0 …
// b:n-1, the first ones getting the remainder, and reservations then route
// each buyer to one bucket (see Reserve). It runs in the given transaction
// and opens none. An exclusive SKU cannot be split: *ConflictError.
func SplitBuckets(ctx context.Context, tx *gorm.DB, sku, location string, n int) error {
	fail := func(err error) error {
		return fmt.Errorf("stock: split %s at %s into %d buckets: %w", sku, location, n, err)
	}
	if err := errors.Join(checkKey("sku", sku, MaxSKU), checkKey("location", location, MaxLocation)); err != nil {
		return fail(err)
	}
	if n < 2 || n > MaxBuckets {
		return fail(invalid("%d buckets: want 2 to %d", n, MaxBuckets))
	}
	db := tx.WithContext(ctx)
	at := now()
	// Every process forgets that the SKU had no bucket settings.
	if err := changes.Mark(db, changes.Stock); err != nil {
		return fail(err)
	}
	if err := errors.Join(ensureLocation(db, location), ensureSlot(db, sku, location, PoolSlot, at)); err != nil {
		return fail(err)
	}
	c, err := loadConf(db, sku, location)
	if err != nil {
		return fail(err)
	}
	if c.exclusive != "" {
		return fail(&ConflictError{SKU: sku, Location: location, Channel: c.exclusive, Mode: "buckets",
			Reason: "the SKU is exclusive to channel " + c.exclusive})
	}
	j := newJournal(KindAllocate, fmt.Sprintf("split into %d buckets", n), at)
	if err := gatherBuckets(db, j, sku, location); err != nil {
		return fail(err)
	}
	if err := putBuckets(db, sku, location, n, at); err != nil {
		return fail(err)
	}
	s, err := readSellable(db, sku, location)
	if err != nil {
		return fail(err)
	}
	for i := range n {
		if err := ensureSlot(db, sku, location, BucketSlot(i), at); err != nil {
			return fail(err)
		}
	}
	if total := s[PoolSlot]; total > 0 {
		ok, err := takeSellable(db, sku, location, PoolSlot, total, at)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(&OutOfStockError{SKU: sku, Location: location, Requested: total})
		}
		j.add(KindAllocate, sku, location, PoolSlot, -total)
		for _, sh := range spread(n, total) {
			if err := addSellable(db, sku, location, sh.slot, sh.qty, at); err != nil {
				return fail(err)
			}
			j.add(KindAllocate, sku, location, sh.slot, sh.qty)
		}
	}
	return fail0(fail, j.flush(db))
}

func putBuckets(db *gorm.DB, sku, location string, n int, at time.Time) error {
	row := BucketRow{SKU: sku, Location: location, Count: n, UpdatedAt: at}
	inserted, err := dbutil.InsertOnce(db, &row)
	if err != nil {
		return fmt.Errorf("write buckets: %w", err)
	}
	if !inserted {
		if err := db.Exec("UPDATE tmf_stock_buckets SET bucket_count = ?, updated_at = ? WHERE sku = ? AND location = ?",
			n, at, sku, location).Error; err != nil {
			return fmt.Errorf("write buckets: %w", err)
		}
	}
	return nil
}

// gatherBuckets moves the sellable stock of every bucket slot back to the
// pool slot.
func gatherBuckets(db *gorm.DB, j *journal, sku, location string) error {
	s, err := readSellable(db, sku, location)
	if err != nil {
		return err
	}
	for _, slot := range sortedSlots(s) {
		if !strings.HasPrefix(slot, bucketPrefix) || s[slot] <= 0 {
			continue
		}
		ok, err := moveSellable(db, j, sku, location, slot, PoolSlot, s[slot])
		if err != nil {
			return err
		}
		if !ok {
			return &OutOfStockError{SKU: sku, Location: location, Requested: s[slot]}
		}
	}
	return nil
}

// MergeBuckets gives the sellable stock of every bucket back to the pool
// slot and ends the split: reservations take from the pool slot again, and
// stock later given back into a bucket flows on to the pool. It runs in the
// given transaction and opens none; merging a SKU that is not split does
// nothing.
func MergeBuckets(ctx context.Context, tx *gorm.DB, sku, location string) error {
	fail := func(err error) error { return fmt.Errorf("stock: merge buckets of %s at %s: %w", sku, location, err) }
	if err := errors.Join(checkKey("sku", sku, MaxSKU), checkKey("location", location, MaxLocation)); err != nil {
		return fail(err)
	}
	db := tx.WithContext(ctx)
	at := now()
	if err := db.Exec("DELETE FROM tmf_stock_buckets WHERE sku = ? AND location = ?", sku, location).Error; err != nil {
		return fail(err)
	}
	if err := ensureSlot(db, sku, location, PoolSlot, at); err != nil {
		return fail(err)
	}
	j := newJournal(KindAllocate, "buckets merged", at)
	if err := gatherBuckets(db, j, sku, location); err != nil {
		return fail(err)
	}
	return fail0(fail, j.flush(db))
}

// Level is the stock of one SKU at one location: the totals over its
// slots, each slot, and the SKU's settings there.
type Level struct {
	SKU      string `json:"sku"`
	Location string `json:"location"`
	Sellable int64  `json:"sellable"`
	Reserved int64  `json:"reserved"`
	Frozen   int64  `json:"frozen"`
	Shipped  int64  `json:"shipped"`
	// Buckets is the number of hot-SKU buckets, 0 when not split.
	Buckets  int              `json:"buckets,omitempty"`
	Slots    []SlotLevel      `json:"slots"`
	Channels []ChannelSetting `json:"channels,omitempty"`
	// UpdatedAt is the latest change of any slot.
	UpdatedAt time.Time `json:"updatedAt"`
}

// SlotLevel is one slot of a Level: "" the common pool, "ch:<channel>" a
// channel's set-aside, "b:<i>" a bucket.
type SlotLevel struct {
	Slot      string    `json:"slot"`
	Sellable  int64     `json:"sellable"`
	Reserved  int64     `json:"reserved"`
	Frozen    int64     `json:"frozen"`
	Shipped   int64     `json:"shipped"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ChannelSetting is one channel setting of a Level.
type ChannelSetting struct {
	Channel string `json:"channel"`
	Mode    string `json:"mode"`
	// Cap: the shared cap (NoCap once removed but still counting), the
	// quantity last set aside for mutex, 0 for exclusive.
	Cap int64 `json:"cap"`
	// Used: what a shared channel holds from the common pool.
	Used int64 `json:"used"`
}

// Levels returns the stock of skus (of every SKU when none is given) at
// every location, sorted by SKU then location, slots by name. It only reads.
func Levels(ctx context.Context, db *gorm.DB, skus ...string) ([]Level, error) {
	out, err := levels(db.WithContext(ctx), "", skus...)
	if err != nil {
		return nil, fmt.Errorf("stock: levels: %w", err)
	}
	return out, nil
}

func levels(db *gorm.DB, location string, skus ...string) ([]Level, error) {
	q := db.Order("sku").Order("location").Order("slot")
	if len(skus) > 0 {
		q = q.Where("sku IN ?", skus)
	}
	if location != "" {
		q = q.Where("location = ?", location)
	}
	var slots []Slot
	if err := q.Find(&slots).Error; err != nil {
		return nil, fmt.Errorf("read slots: %w", err)
	}
	out := []Level{}
	for _, s := range slots {
		if n := len(out); n == 0 || out[n-1].SKU != s.SKU || out[n-1].Location != s.Location {
			out = append(out, Level{SKU: s.SKU, Location: s.Location, Slots: []SlotLevel{}})
		}
		l := &out[len(out)-1]
		at := dbutil.Stamp(s.UpdatedAt)
		l.Slots = append(l.Slots, SlotLevel{Slot: s.Slot, Sellable: s.Sellable, Reserved: s.Reserved, Frozen: s.Frozen,
			Shipped: s.Shipped, UpdatedAt: at})
		l.Sellable += s.Sellable
		l.Reserved += s.Reserved
		l.Frozen += s.Frozen
		l.Shipped += s.Shipped
		if at.After(l.UpdatedAt) {
			l.UpdatedAt = at
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	var names []string
	for _, l := range out {
		if len(names) == 0 || names[len(names)-1] != l.SKU {
			names = append(names, l.SKU)
		}
	}
	confs, err := loadConfs(db, names, location)
	if err != nil {
		return nil, err
	}
	for i := range out {
		l := &out[i]
		c := confs[skuLoc{l.SKU, l.Location}]
		if c == nil {
			continue
		}
		l.Buckets = c.buckets
		for _, r := range c.rows {
			l.Channels = append(l.Channels, ChannelSetting{Channel: r.Channel, Mode: r.Mode, Cap: r.Cap, Used: r.Used})
		}
	}
	return out, nil
}
