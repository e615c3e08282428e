package stock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// exitKey names, per kind, the bucket an order part leaves: confirm and
// release both take a part out of reserved, ship and unfreeze out of
// frozen. The two kinds of a pair share one move key, so a part leaves each
// bucket once, by one kind, however calls race.
var exitKey = map[string]string{
	KindConfirm:  "reserved",
	KindRelease:  "reserved",
	KindShip:     "frozen",
	KindUnfreeze: "frozen",
}

// pastTense names, for StateError, what an earlier move did to a part.
var pastTense = map[string]string{
	KindConfirm: "confirmed", KindRelease: "released", KindShip: "shipped", KindUnfreeze: "unfrozen",
}

// Move applies kind (KindConfirm, KindRelease, KindShip or KindUnfreeze) to
// every part of the order's reservation, each on the slot its reserve row
// names. It must run inside the order's transaction (it never opens one);
// after an error the transaction must be rolled back.
//
// Idempotent: each part's move is keyed <order>/<line>/<part>/reserved for
// confirm and release and …/frozen for ship and unfreeze, inserted before
// the part moves; a part that already moved by the same kind is skipped, so
// a retried or duplicated call does nothing. A part that moved by the other
// kind of the pair (confirm after release, unfreeze after ship), that ship
// or unfreeze find unconfirmed, or whose slot holds less than the part in
// the source bucket refuses with *StateError.
//
// Release and unfreeze give the part back to sellable, and give back what
// it counted against its channel's shared cap. Stock given back into a
// slot that no longer sets anything aside (the channel's setting was
// removed, the buckets merged) flows on to the common pool, with a pair of
// allocate rows. Ship records the part as a shipment, for Return.
//
// An order without a reservation has nothing to move: Move returns nil.
func Move(ctx context.Context, tx *gorm.DB, orderID, kind string) error {
	if err := checkKey("order id", orderID, MaxOrderID); err != nil {
		return fmt.Errorf("stock: move: %w", err)
	}
	if _, ok := exitKey[kind]; !ok {
		return fmt.Errorf("stock: move order %s: %w", orderID, invalid("kind %q is not confirm, release, ship or unfreeze", kind))
	}
	db := tx.WithContext(ctx)
	var rows []LedgerEntry
	if err := db.Where("order_id = ?", orderID).Find(&rows).Error; err != nil {
		return fmt.Errorf("stock: move order %s: read ledger: %w", orderID, err)
	}
	byKey := make(map[string]LedgerEntry, len(rows))
	var parts []LedgerEntry
	for _, r := range rows {
		byKey[r.MoveKey] = r
		if r.Kind == KindReserve {
			parts = append(parts, r)
		}
	}
	// The order reservations take rows in: SKU, then the channel's slot
	// before the pool.
	slices.SortFunc(parts, func(a, b LedgerEntry) int {
		return cmp.Or(strings.Compare(a.SKU, b.SKU), strings.Compare(a.Location, b.Location),
			compareSlot(a.Slot, b.Slot), a.LineNo-b.LineNo, a.Part-b.Part)
	})
	m := mover{db: db, at: now(), confs: map[skuLoc]*conf{}}
	for _, p := range parts {
		if err := m.move(p, kind, byKey); err != nil {
			return fmt.Errorf("stock: %s order %s: %w", kind, orderID, err)
		}
	}
	return nil
}

type mover struct {
	db    *gorm.DB
	at    time.Time
	confs map[skuLoc]*conf
}

func (m *mover) move(p LedgerEntry, kind string, byKey map[string]LedgerEntry) error {
	stateErr := func(reason string) error {
		return &StateError{OrderID: p.OrderID, LineNo: p.LineNo, Part: p.Part, SKU: p.SKU, Location: p.Location,
			Slot: p.Slot, Kind: kind, Quantity: p.Quantity, Reason: reason}
	}
	if kind == KindShip || kind == KindUnfreeze {
		confirm, ok := byKey[partKey(p.OrderID, p.LineNo, p.Part, exitKey[KindConfirm])]
		if !ok {
			return stateErr("not confirmed")
		}
		if confirm.Kind != KindConfirm {
			return stateErr(pastTense[confirm.Kind])
		}
	}
	key := partKey(p.OrderID, p.LineNo, p.Part, exitKey[kind])
	if prev, ok := byKey[key]; ok {
		if prev.Kind == kind {
			return nil
		}
		return stateErr(pastTense[prev.Kind])
	}
	row := LedgerEntry{MoveKey: key, SKU: p.SKU, Location: p.Location, Slot: p.Slot, OrderID: p.OrderID,
		LineNo: p.LineNo, Part: p.Part, Kind: kind, Quantity: p.Quantity, CreatedAt: m.at}
	if transfers[kind].to == "sellable" {
		row.Channel = p.Channel
	}
	inserted, err := insertLedgerOnce(m.db, &row)
	if err != nil {
		return fmt.Errorf("write %s row: %w", kind, err)
	}
	if !inserted { // a concurrent call moved the part first
		prev, err := existingRow(m.db, key, true)
		if err != nil {
			return err
		}
		if prev.Kind == kind {
			return nil
		}
		return stateErr(pastTense[prev.Kind])
	}
	// The cap before the slot, in the order Reserve takes them.
	if err := m.giveCap(row); err != nil {
		return err
	}
	ok, err := transfer(m.db, kind, p.SKU, p.Location, p.Slot, p.Quantity, m.at)
	if err != nil {
		return err
	}
	if !ok {
		return stateErr(transfers[kind].from + " holds less")
	}
	switch kind {
	case KindShip:
		sh := Shipment{OrderID: p.OrderID, LineNo: p.LineNo, Part: p.Part, SKU: p.SKU, Location: p.Location,
			Slot: p.Slot, Channel: p.Channel, Shipped: p.Quantity}
		if err := m.db.Create(&sh).Error; err != nil {
			return fmt.Errorf("write shipment: %w", err)
		}
	case KindRelease, KindUnfreeze:
		return m.flowToPool(row)
	}
	return nil
}

// giveCap gives back what a move back to sellable (row) counted against
// its channel's shared cap, if anything.
func (m *mover) giveCap(row LedgerEntry) error {
	if row.Channel != "" {
		res := m.db.Exec("UPDATE tmf_stock_channels SET used = used - ?, updated_at = ? "+
			"WHERE sku = ? AND location = ? AND channel = ? AND mode = ? AND used >= ?",
			row.Quantity, m.at, row.SKU, row.Location, row.Channel, ModeShared, row.Quantity)
		if res.Error != nil {
			return fmt.Errorf("give %d back to the cap of channel %s: %w", row.Quantity, row.Channel, res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("give %d back to the cap of channel %s of %s at %s: the cap counts less", row.Quantity,
				row.Channel, row.SKU, row.Location)
		}
		// A removed cap goes once nothing is counted against it any more.
		if err := m.db.Exec("DELETE FROM tmf_stock_channels WHERE sku = ? AND location = ? AND channel = ? "+
			"AND mode = ? AND cap < 0 AND used = 0", row.SKU, row.Location, row.Channel, ModeShared).Error; err != nil {
			return fmt.Errorf("drop the removed cap of channel %s: %w", row.Channel, err)
		}
	}
	return nil
}

// flowToPool sends stock a move gave back into a slot (row) on to the pool
// slot when that slot no longer sets anything aside.
func (m *mover) flowToPool(row LedgerEntry) error {
	if row.Slot == PoolSlot {
		return nil
	}
	k := skuLoc{row.SKU, row.Location}
	c := m.confs[k]
	if c == nil {
		var err error
		if c, err = loadConf(m.db, row.SKU, row.Location); err != nil {
			return err
		}
		m.confs[k] = c
	}
	if c.live(row.Slot) {
		return nil
	}
	ok, err := takeSellable(m.db, row.SKU, row.Location, row.Slot, row.Quantity, m.at)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("send %d of %s at %s from slot %q to the pool: the slot holds less", row.Quantity, row.SKU,
			row.Location, row.Slot)
	}
	if err := ensureSlot(m.db, row.SKU, row.Location, PoolSlot, m.at); err != nil {
		return err
	}
	if err := addSellable(m.db, row.SKU, row.Location, PoolSlot, row.Quantity, m.at); err != nil {
		return err
	}
	reason := fmt.Sprintf("%s into slot %q, which sets nothing aside any more", row.Kind, row.Slot)
	flow := []LedgerEntry{
		{MoveKey: row.MoveKey + "/to-pool/out", SKU: row.SKU, Location: row.Location, Slot: row.Slot,
			OrderID: row.OrderID, LineNo: row.LineNo, Part: row.Part, Kind: KindAllocate, Quantity: -row.Quantity,
			Reason: reason, CreatedAt: m.at},
		{MoveKey: row.MoveKey + "/to-pool/in", SKU: row.SKU, Location: row.Location, Slot: PoolSlot,
			OrderID: row.OrderID, LineNo: row.LineNo, Part: row.Part, Kind: KindAllocate, Quantity: row.Quantity,
			Reason: reason, CreatedAt: m.at},
	}
	if err := m.db.Create(&flow).Error; err != nil {
		return fmt.Errorf("write allocate rows: %w", err)
	}
	return nil
}

// ReturnRequest is a return of shipped stock: Lines name order lines and
// the quantities coming back.
type ReturnRequest struct {
	OrderID string
	// ReturnID identifies the return; a return is applied once per ID.
	ReturnID string
	Lines    []LineQty
}

// Return moves the lines' quantities from shipped back to sellable, on the
// slots the lines were shipped from (the line's first part first), and
// gives back what they counted against a channel's shared cap. It must run
// inside a transaction (it never opens one); after an error the
// transaction must be rolled back.
//
// A line never returns more than it shipped minus what earlier returns
// took back: the per-part counters of tmf_stock_shipments change only by
// conditional updates, so racing returns cannot pass the limit together.
// Asking more, or for a line that was never shipped or has another SKU,
// refuses with *ReturnError. Idempotent per ReturnID and line: the line's
// first return row (key <order>/<line>/return/<returnID>/1) is inserted
// before anything moves, and a line whose row exists is left alone.
func Return(ctx context.Context, tx *gorm.DB, req ReturnRequest) error {
	err := errors.Join(checkKey("order id", req.OrderID, MaxOrderID), checkKey("return id", req.ReturnID, MaxReturnID))
	lines, lerr := checkLines(req.Lines, false)
	if err = errors.Join(err, lerr); err != nil {
		return fmt.Errorf("stock: return: %w", err)
	}
	slices.SortFunc(lines, func(a, b LineQty) int { return a.LineNo - b.LineNo })
	db := tx.WithContext(ctx)
	var ships []Shipment
	if err := db.Where("order_id = ?", req.OrderID).Order("line_no").Order("part").Find(&ships).Error; err != nil {
		return fmt.Errorf("stock: return %s of order %s: read shipments: %w", req.ReturnID, req.OrderID, err)
	}
	m := mover{db: db, at: now(), confs: map[skuLoc]*conf{}}
	for _, l := range lines {
		var parts []Shipment
		for _, s := range ships {
			if s.LineNo == l.LineNo {
				parts = append(parts, s)
			}
		}
		if err := m.returnLine(req, l, parts); err != nil {
			return fmt.Errorf("stock: return %s of order %s line %d: %w", req.ReturnID, req.OrderID, l.LineNo, err)
		}
	}
	return nil
}

func (m *mover) returnLine(req ReturnRequest, l LineQty, parts []Shipment) error {
	key := func(n int) string { return fmt.Sprintf("%s/%d/return/%s/%d", req.OrderID, l.LineNo, req.ReturnID, n) }
	refuse := func(returnable int64) error {
		return &ReturnError{OrderID: req.OrderID, ReturnID: req.ReturnID, LineNo: l.LineNo, SKU: l.SKU,
			Requested: l.Quantity, Returnable: returnable}
	}
	if done, err := existingRow(m.db, key(1), false); err != nil {
		return err
	} else if done.Kind != "" {
		return nil // applied by an earlier call
	}
	if len(parts) == 0 || (l.SKU != "" && parts[0].SKU != l.SKU) {
		return refuse(0)
	}
	// Spread the quantity over the parts, first part first.
	type share struct {
		Shipment
		qty int64
	}
	var shares []share
	var returnable int64
	rem := l.Quantity
	for _, p := range parts {
		left := p.Shipped - p.Returned
		returnable += left
		if q := min(left, rem); q > 0 {
			shares, rem = append(shares, share{p, q}), rem-q
		}
	}
	if rem > 0 {
		return refuse(returnable)
	}
	rows := make([]LedgerEntry, len(shares))
	for i, s := range shares {
		rows[i] = LedgerEntry{MoveKey: key(i + 1), SKU: s.SKU, Location: s.Location, Slot: s.Slot, OrderID: req.OrderID,
			LineNo: l.LineNo, Part: s.Part, Channel: s.Channel, Kind: KindReturn, Quantity: s.qty,
			Reason: truncate("return "+req.ReturnID, maxReason), CreatedAt: m.at}
	}
	inserted, err := insertLedgerOnce(m.db, &rows[0])
	if err != nil {
		return fmt.Errorf("write return row: %w", err)
	}
	if !inserted {
		return nil // a concurrent call applied it first
	}
	if len(rows) > 1 {
		rest := rows[1:]
		if err := m.db.Create(&rest).Error; err != nil {
			return fmt.Errorf("write return rows: %w", err)
		}
	}
	var counted int64 // by this call, before a refusal rolls it back
	for i, s := range shares {
		res := m.db.Exec("UPDATE tmf_stock_shipments SET returned = returned + ? "+
			"WHERE order_id = ? AND line_no = ? AND part = ? AND shipped - returned >= ?",
			s.qty, s.OrderID, s.LineNo, s.Part, s.qty)
		if res.Error != nil {
			return fmt.Errorf("count the return: %w", res.Error)
		}
		if res.RowsAffected != 1 { // a concurrent return took it first
			var left []int64
			if err := m.db.Raw("SELECT COALESCE(SUM(shipped - returned), 0) FROM tmf_stock_shipments "+
				"WHERE order_id = ? AND line_no = ?", s.OrderID, s.LineNo).Scan(&left).Error; err != nil {
				return fmt.Errorf("read shipments: %w", err)
			}
			return refuse(left[0] + counted)
		}
		counted += s.qty
		if err := m.giveCap(rows[i]); err != nil {
			return err
		}
		ok, err := transfer(m.db, KindReturn, s.SKU, s.Location, s.Slot, s.qty, m.at)
		if err != nil {
			return err
		}
		if !ok {
			return &StateError{OrderID: req.OrderID, LineNo: l.LineNo, Part: s.Part, SKU: s.SKU, Location: s.Location,
				Slot: s.Slot, Kind: KindReturn, Quantity: s.qty, Reason: "shipped holds less"}
		}
		if err := m.flowToPool(rows[i]); err != nil {
			return err
		}
	}
	return nil
}
