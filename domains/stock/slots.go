package stock

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/platform/store/changes"
	"gorm.io/gorm"
)

// now is the time stamped on rows: UTC, microseconds.
func now() time.Time { return dbutil.Stamp(time.Now()) }

// newID returns 96 random bits in hex, for the keys of operator moves.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// transfers names, per order kind, the bucket of a slot it moves stock from
// and the bucket it moves it to.
var transfers = map[string]struct{ from, to string }{
	KindReserve:  {"sellable", "reserved"},
	KindConfirm:  {"reserved", "frozen"},
	KindRelease:  {"reserved", "sellable"},
	KindShip:     {"frozen", "shipped"},
	KindUnfreeze: {"frozen", "sellable"},
	KindReturn:   {"shipped", "sellable"},
}

// transferSQL is, per kind, the conditional update that moves a quantity
// between two buckets of one slot only if the source bucket covers it: the
// database checks and changes the row in one statement.
var transferSQL = func() map[string]string {
	m := make(map[string]string, len(transfers))
	for kind, t := range transfers {
		m[kind] = fmt.Sprintf("UPDATE tmf_stock_slots SET %[1]s = %[1]s - ?, %[2]s = %[2]s + ?, updated_at = ? "+
			"WHERE sku = ? AND location = ? AND slot = ? AND %[1]s >= ?", t.from, t.to)
	}
	return m
}()

// transfer applies kind to q units of a slot; false when the source bucket
// (or the slot) was short and nothing changed.
func transfer(db *gorm.DB, kind, sku, location, slot string, q int64, at time.Time) (bool, error) {
	res := db.Exec(transferSQL[kind], q, q, at, sku, location, slot, q)
	if res.Error != nil {
		return false, fmt.Errorf("%s %d of %s at %s slot %q: %w", kind, q, sku, location, slot, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// takeSellable removes q from a slot's sellable if it holds that much.
func takeSellable(db *gorm.DB, sku, location, slot string, q int64, at time.Time) (bool, error) {
	res := db.Exec("UPDATE tmf_stock_slots SET sellable = sellable - ?, updated_at = ? "+
		"WHERE sku = ? AND location = ? AND slot = ? AND sellable >= ?", q, at, sku, location, slot, q)
	if res.Error != nil {
		return false, fmt.Errorf("take %d sellable of %s at %s slot %q: %w", q, sku, location, slot, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// addSellable adds q to the sellable of a slot, which must exist.
func addSellable(db *gorm.DB, sku, location, slot string, q int64, at time.Time) error {
	res := db.Exec("UPDATE tmf_stock_slots SET sellable = sellable + ?, updated_at = ? "+
		"WHERE sku = ? AND location = ? AND slot = ?", q, at, sku, location, slot)
	if res.Error != nil {
		return fmt.Errorf("add %d sellable to %s at %s slot %q: %w", q, sku, location, slot, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("add %d sellable to %s at %s: no slot %q", q, sku, location, slot)
	}
	return nil
}

// ensureSlot creates the slot (all zero) unless it exists.
func ensureSlot(db *gorm.DB, sku, location, slot string, at time.Time) error {
	if _, err := dbutil.InsertOnce(db, &Slot{SKU: sku, Location: location, Slot: slot, UpdatedAt: at}); err != nil {
		return fmt.Errorf("create slot %q of %s at %s: %w", slot, sku, location, err)
	}
	return nil
}

// ensureLocation creates the location (priority 0, every region) unless it exists.
func ensureLocation(db *gorm.DB, name string) error {
	created, err := dbutil.InsertOnce(db, &Location{Name: name})
	if err == nil && created {
		err = changes.Mark(db, changes.Stock)
	}
	if err != nil {
		return fmt.Errorf("create location %s: %w", name, err)
	}
	return nil
}

// readSellable returns the sellable quantity of every slot of sku at
// location. It is a plain read: fresh per statement on PostgreSQL, the
// transaction's snapshot on MySQL; decisions taken from it are always
// enforced by a conditional update.
func readSellable(db *gorm.DB, sku, location string) (map[string]int64, error) {
	var rows []struct {
		Slot     string
		Sellable int64
	}
	if err := db.Raw("SELECT slot, sellable FROM tmf_stock_slots WHERE sku = ? AND location = ?", sku, location).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read slots of %s at %s: %w", sku, location, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Slot] = r.Sellable
	}
	return out, nil
}

// journal collects the ledger rows of an operator change (adjust and
// allocate), each keyed <op>/<random id>/<n>, and writes them in one insert.
type journal struct {
	op, id, reason string
	at             time.Time
	rows           []LedgerEntry
}

func newJournal(op, reason string, at time.Time) *journal {
	return &journal{op: op, id: newID(), reason: truncate(reason, maxReason), at: at}
}

func (j *journal) add(kind, sku, location, slot string, q int64) {
	j.rows = append(j.rows, LedgerEntry{MoveKey: j.op + "/" + j.id + "/" + strconv.Itoa(len(j.rows)+1),
		SKU: sku, Location: location, Slot: slot, Kind: kind, Quantity: q, Reason: j.reason, CreatedAt: j.at})
}

func (j *journal) flush(db *gorm.DB) error {
	if len(j.rows) == 0 {
		return nil
	}
	if err := db.Create(&j.rows).Error; err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	j.rows = nil
	return nil
}

// moveSellable moves q of sellable from one slot to another (which must
// exist) if the source holds it, and journals the pair of allocate rows.
func moveSellable(db *gorm.DB, j *journal, sku, location, from, to string, q int64) (bool, error) {
	if q <= 0 || from == to {
		return true, nil
	}
	ok, err := takeSellable(db, sku, location, from, q, j.at)
	if err != nil || !ok {
		return false, err
	}
	if err := addSellable(db, sku, location, to, q, j.at); err != nil {
		return false, err
	}
	j.add(KindAllocate, sku, location, from, -q)
	j.add(KindAllocate, sku, location, to, q)
	return true, nil
}

// skuLoc names the stock of one SKU at one location.
type skuLoc struct{ sku, location string }

// conf is the channel and bucket settings of one SKU at one location.
type conf struct {
	buckets   int
	exclusive string // the exclusive channel, "" when none
	mutex     map[string]ChannelRow
	shared    map[string]ChannelRow
	rows      []ChannelRow
}

// maxPlainCached bounds the cache of SKUs without settings.
const maxPlainCached = 100_000

// loadConfs reads the settings of skus at location (at every location when
// location is empty).
func loadConfs(db *gorm.DB, skus []string, location string) (map[skuLoc]*conf, error) {
	out := map[skuLoc]*conf{}
	if len(skus) == 0 {
		return out, nil
	}
	get := func(sku, loc string) *conf {
		k := skuLoc{sku, loc}
		c := out[k]
		if c == nil {
			c = &conf{}
			out[k] = c
		}
		return c
	}
	// SKUs known to have no channel or bucket settings anywhere (the
	// common case) are not read again: SetChannel and SplitBuckets, the
	// only writers that add settings, mark the stock kind changed.
	plain := changes.CacheOf[bool](changes.Readable(db), "stock.plain", changes.Stock, maxPlainCached)
	gen, cacheable := plain.Snapshot()
	ask := make([]string, 0, len(skus))
	for _, sku := range skus {
		if _, hit := plain.Lookup(sku); !hit {
			ask = append(ask, sku)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	skus = ask
	read := false // both reads succeeded
	defer func() {
		if !read || !cacheable || location != "" {
			return
		}
		has := map[string]bool{}
		for k := range out {
			has[k.sku] = true
		}
		for _, sku := range skus {
			if !has[sku] {
				plain.Fill(gen, sku, true)
			}
		}
	}()
	chq := db.Where("sku IN ?", skus)
	bq := db.Where("sku IN ?", skus)
	if location != "" {
		chq, bq = chq.Where("location = ?", location), bq.Where("location = ?", location)
	}
	var chans []ChannelRow
	if err := chq.Order("sku").Order("location").Order("channel").Order("mode").Find(&chans).Error; err != nil {
		return nil, fmt.Errorf("read channel settings: %w", err)
	}
	for _, r := range chans {
		c := get(r.SKU, r.Location)
		c.rows = append(c.rows, r)
		switch r.Mode {
		case ModeExclusive:
			c.exclusive = r.Channel
		case ModeMutex:
			if c.mutex == nil {
				c.mutex = map[string]ChannelRow{}
			}
			c.mutex[r.Channel] = r
		case ModeShared:
			if c.shared == nil {
				c.shared = map[string]ChannelRow{}
			}
			c.shared[r.Channel] = r
		}
	}
	var buckets []BucketRow
	if err := bq.Find(&buckets).Error; err != nil {
		return nil, fmt.Errorf("read bucket settings: %w", err)
	}
	for _, b := range buckets {
		get(b.SKU, b.Location).buckets = b.Count
	}
	read = true
	return out, nil
}

// loadConf reads the settings of one SKU at one location.
func loadConf(db *gorm.DB, sku, location string) (*conf, error) {
	cs, err := loadConfs(db, []string{sku}, location)
	if err != nil {
		return nil, err
	}
	if c := cs[skuLoc{sku, location}]; c != nil {
		return c, nil
	}
	return &conf{}, nil
}

// ownSlot is the slot an order from channel takes from before the common
// pool: the channel's slot when the channel is exclusive or has stock set
// aside (mutex).
func (c *conf) ownSlot(channel string) (string, bool) {
	if channel == "" {
		return "", false
	}
	if _, ok := c.mutex[channel]; ok || c.exclusive == channel {
		return ChannelSlot(channel), true
	}
	return "", false
}

// Pool access of a channel.
const (
	poolNone   = iota // may not take from the common pool
	poolFree          // may take without limit
	poolCapped        // may take while its shared cap allows
)

// poolAccess says how an order from channel may take from the common pool.
// The exact rule: when the SKU is exclusive to a channel, that channel takes
// freely and every other (or none) takes nothing; otherwise a channel with
// an active shared cap (Cap >= 0) is capped, a channel with stock set aside
// (mutex) and no active cap takes nothing from the pool, and any other
// channel, or none, takes freely.
func (c *conf) poolAccess(channel string) int {
	if c.exclusive != "" {
		if channel == c.exclusive {
			return poolFree
		}
		return poolNone
	}
	if channel == "" {
		return poolFree
	}
	if s, ok := c.shared[channel]; ok && s.Cap >= 0 {
		return poolCapped
	}
	if _, ok := c.mutex[channel]; ok {
		return poolNone
	}
	return poolFree
}

// poolSlots are the slots of the common pool: the pool slot, then the buckets.
func (c *conf) poolSlots() []string {
	out := []string{PoolSlot}
	for i := range c.buckets {
		out = append(out, BucketSlot(i))
	}
	return out
}

// available is what an order from channel could reserve given the sellable
// quantities of the slots.
func (c *conf) available(channel string, sellable map[string]int64) int64 {
	var own int64
	if slot, ok := c.ownSlot(channel); ok {
		own = max(sellable[slot], 0)
	}
	var pool int64
	for _, s := range c.poolSlots() {
		pool += max(sellable[s], 0)
	}
	switch c.poolAccess(channel) {
	case poolNone:
		pool = 0
	case poolCapped:
		sh := c.shared[channel]
		pool = min(pool, max(sh.Cap-sh.Used, 0))
	}
	return own + pool
}

// live reports whether stock given back into slot may stay there: the pool
// slot always, a channel's slot while the channel is exclusive or has a
// mutex setting, a bucket while the SKU has that many buckets.
func (c *conf) live(slot string) bool {
	switch {
	case slot == PoolSlot:
		return true
	case strings.HasPrefix(slot, channelPrefix):
		_, ok := c.ownSlot(strings.TrimPrefix(slot, channelPrefix))
		return ok
	case strings.HasPrefix(slot, bucketPrefix):
		i, err := strconv.Atoi(strings.TrimPrefix(slot, bucketPrefix))
		return err == nil && i < c.buckets
	}
	return false
}

// sortedSlots returns the keys of m in name order.
func sortedSlots(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// compareSlot orders slots as reservations take them within a SKU: channel
// slots, then the pool slot and buckets, by name.
func compareSlot(a, b string) int {
	ca, cb := strings.HasPrefix(a, channelPrefix), strings.HasPrefix(b, channelPrefix)
	if ca != cb {
		if ca {
			return -1
		}
		return 1
	}
	return cmp.Compare(a, b)
}

// checkKey validates a key column value.
func checkKey(what, v string, maxLen int) error {
	if v == "" {
		return invalid("empty %s", what)
	}
	if len(v) > maxLen {
		return invalid("%s %.20q… longer than %d bytes", what, v, maxLen)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n]
}

// currentRead is the suffix that makes a SELECT read the latest committed
// row instead of the transaction's snapshot: needed on MySQL (REPEATABLE
// READ) to see a ledger row that an insert-once just found committed by a
// concurrent transaction. PostgreSQL (READ COMMITTED) and SQLite (one
// writer) see it anyway.
func currentRead(db *gorm.DB) string {
	if dbutil.Dialect(db) == dbutil.MySQL {
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// insertLedgerOnce writes a ledger row unless one with its move key exists,
// and reports whether it wrote it. A duplicate does not fail the statement
// (on PostgreSQL that would abort the transaction). It is raw SQL rather
// than dbutil.InsertOnce because gorm adds RETURNING id for the
// auto-increment key on MariaDB, which then answers one row for a
// duplicate too.
func insertLedgerOnce(db *gorm.DB, e *LedgerEntry) (bool, error) {
	q := "INSERT INTO tmf_stock_ledger (move_key, sku, location, slot, order_id, line_no, part, channel, kind, " +
		"quantity, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	if dbutil.Dialect(db) == dbutil.MySQL {
		q += "ON DUPLICATE KEY UPDATE move_key = move_key" // a no-op update counts 0 rows
	} else {
		q += "ON CONFLICT (move_key) DO NOTHING"
	}
	res := db.Exec(q, e.MoveKey, e.SKU, e.Location, e.Slot, e.OrderID, e.LineNo, e.Part, e.Channel, e.Kind,
		e.Quantity, e.Reason, e.CreatedAt)
	if res.Error != nil {
		return false, fmt.Errorf("write ledger row %s: %w", e.MoveKey, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// existingRow returns the ledger row keyed key; its Kind is empty when there
// is none. With latest, the read sees the latest committed row (use it
// after an insert-once found the key taken: the row exists, so on MySQL the
// shared lock is a record lock and no gap lock).
func existingRow(db *gorm.DB, key string, latest bool) (LedgerEntry, error) {
	q := "SELECT * FROM tmf_stock_ledger WHERE move_key = ?"
	if latest {
		q += currentRead(db)
	}
	var rows []LedgerEntry
	if err := db.Raw(q, key).Scan(&rows).Error; err != nil {
		return LedgerEntry{}, fmt.Errorf("read ledger row %s: %w", key, err)
	}
	if len(rows) == 0 {
		return LedgerEntry{}, nil
	}
	return rows[0], nil
}
