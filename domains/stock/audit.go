package stock

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// Discrepancy is one way a counter disagrees with the ledger.
type Discrepancy struct {
	// Table is "slot" (tmf_stock_slots), "channel" (the used counter of a
	// shared cap in tmf_stock_channels) or "shipment" (tmf_stock_shipments).
	Table    string `json:"table"`
	SKU      string `json:"sku"`
	Location string `json:"location"`
	Slot     string `json:"slot,omitempty"`
	Channel  string `json:"channel,omitempty"`
	OrderID  string `json:"orderId,omitempty"`
	LineNo   int    `json:"lineNo,omitempty"`
	Part     int    `json:"part,omitempty"`
	// Field is the counter at fault: for a slot, "total" (what was put in
	// against the sum of the buckets), sellable, reserved, frozen or
	// shipped; "used" for a channel; "shipped" or "returned" for a shipment.
	Field string `json:"field"`
	// Ledger is what the ledger implies; Actual what the counter holds.
	Ledger  int64  `json:"ledger"`
	Actual  int64  `json:"actual"`
	Problem string `json:"problem"`
}

func (d Discrepancy) String() string {
	where := fmt.Sprintf("%s at %s", d.SKU, d.Location)
	switch d.Table {
	case "slot":
		where += fmt.Sprintf(" slot %q", d.Slot)
	case "channel":
		where += " channel " + d.Channel
	case "shipment":
		where = fmt.Sprintf("order %s line %d part %d (%s)", d.OrderID, d.LineNo, d.Part, where)
	}
	return fmt.Sprintf("%s: %s: %s (ledger %d, actual %d)", where, d.Field, d.Problem, d.Ledger, d.Actual)
}

// Audit recomputes every counter from the ledger (the oversell audit of
// reference 004 §3.1.1) and returns every difference, none when the stock
// is sound:
//
//   - per slot: put in (adjust + allocate) = sellable + reserved + frozen +
//     shipped; sellable = put in − reserve + release + unfreeze + return;
//     reserved = reserve − confirm − release; frozen = confirm − ship −
//     unfreeze; shipped = ship − return; none negative; and no ledger rows
//     for a slot that does not exist;
//   - per shared cap: used = what the rows carrying the channel reserved
//     minus what they released, unfroze and returned, never negative;
//   - per shipment: shipped = its ship row, returned = its return rows,
//     returned never more than shipped.
//
// It reads every counter and sums the whole ledger: run it from tests and
// operations, not on a request path. Run it on a quiet database or in one
// transaction (a REPEATABLE READ one on PostgreSQL) for an exact picture.
func Audit(ctx context.Context, db *gorm.DB) ([]Discrepancy, error) {
	d := db.WithContext(ctx)
	fail := func(what string, err error) ([]Discrepancy, error) {
		return nil, fmt.Errorf("stock: audit: %s: %w", what, err)
	}
	type sum struct {
		SKU      string
		Location string
		Slot     string
		Channel  string
		OrderID  string
		LineNo   int
		Part     int
		Kind     string
		Total    int64
	}
	var out []Discrepancy

	// Slots.
	var slotSums []sum
	if err := d.Raw("SELECT sku, location, slot, kind, SUM(quantity) AS total FROM tmf_stock_ledger " +
		"GROUP BY sku, location, slot, kind").Scan(&slotSums).Error; err != nil {
		return fail("sum the ledger", err)
	}
	type slotKey struct{ sku, location, slot string }
	ledger := map[slotKey]map[string]int64{}
	for _, s := range slotSums {
		k := slotKey{s.SKU, s.Location, s.Slot}
		if ledger[k] == nil {
			ledger[k] = map[string]int64{}
		}
		ledger[k][s.Kind] += s.Total
	}
	var slots []Slot
	if err := d.Find(&slots).Error; err != nil {
		return fail("read slots", err)
	}
	for _, s := range slots {
		k := slotKey{s.SKU, s.Location, s.Slot}
		out = append(out, auditSlot(s, ledger[k])...)
		delete(ledger, k)
	}
	for k, kinds := range ledger {
		for _, kind := range slices.Sorted(maps.Keys(kinds)) {
			if q := kinds[kind]; q != 0 {
				out = append(out, Discrepancy{Table: "slot", SKU: k.sku, Location: k.location, Slot: k.slot, Field: "total",
					Ledger: kinds[KindAdjust] + kinds[KindAllocate], Problem: fmt.Sprintf("ledger rows (%s %d) but no slot", kind, q)})
				break
			}
		}
	}

	// Shared caps.
	var capSums []sum
	if err := d.Raw("SELECT sku, location, channel, kind, SUM(quantity) AS total FROM tmf_stock_ledger " +
		"WHERE channel <> '' GROUP BY sku, location, channel, kind").Scan(&capSums).Error; err != nil {
		return fail("sum the ledger by channel", err)
	}
	type chanKey struct{ sku, location, channel string }
	used := map[chanKey]int64{}
	for _, s := range capSums {
		k := chanKey{s.SKU, s.Location, s.Channel}
		switch s.Kind {
		case KindReserve:
			used[k] += s.Total
		case KindRelease, KindUnfreeze, KindReturn:
			used[k] -= s.Total
		}
	}
	var chans []ChannelRow
	if err := d.Where("mode = ?", ModeShared).Find(&chans).Error; err != nil {
		return fail("read channels", err)
	}
	for _, c := range chans {
		k := chanKey{c.SKU, c.Location, c.Channel}
		add := func(problem string) {
			out = append(out, Discrepancy{Table: "channel", SKU: c.SKU, Location: c.Location, Channel: c.Channel,
				Field: "used", Ledger: used[k], Actual: c.Used, Problem: problem})
		}
		switch {
		case c.Used < 0:
			add("negative")
		case c.Used != used[k]:
			add("differs from the ledger")
		}
		delete(used, k)
	}
	for k, u := range used {
		if u != 0 {
			out = append(out, Discrepancy{Table: "channel", SKU: k.sku, Location: k.location, Channel: k.channel,
				Field: "used", Ledger: u, Problem: "ledger counts stock under a cap that does not exist"})
		}
	}

	// Shipments.
	var shipSums []sum
	if err := d.Raw("SELECT order_id, line_no, part, kind, SUM(quantity) AS total FROM tmf_stock_ledger "+
		"WHERE kind IN (?, ?) GROUP BY order_id, line_no, part, kind", KindShip, KindReturn).Scan(&shipSums).Error; err != nil {
		return fail("sum shipments", err)
	}
	type partKey struct {
		order      string
		line, part int
	}
	shipLedger := map[partKey]map[string]int64{}
	for _, s := range shipSums {
		k := partKey{s.OrderID, s.LineNo, s.Part}
		if shipLedger[k] == nil {
			shipLedger[k] = map[string]int64{}
		}
		shipLedger[k][s.Kind] += s.Total
	}
	var ships []Shipment
	if err := d.Find(&ships).Error; err != nil {
		return fail("read shipments", err)
	}
	for _, s := range ships {
		k := partKey{s.OrderID, s.LineNo, s.Part}
		m := shipLedger[k]
		add := func(field string, ledger, actual int64, problem string) {
			out = append(out, Discrepancy{Table: "shipment", SKU: s.SKU, Location: s.Location, Slot: s.Slot,
				OrderID: s.OrderID, LineNo: s.LineNo, Part: s.Part, Field: field, Ledger: ledger, Actual: actual,
				Problem: problem})
		}
		if s.Shipped != m[KindShip] {
			add("shipped", m[KindShip], s.Shipped, "differs from the ledger")
		}
		switch {
		case s.Returned != m[KindReturn]:
			add("returned", m[KindReturn], s.Returned, "differs from the ledger")
		case s.Returned < 0 || s.Returned > s.Shipped:
			add("returned", m[KindReturn], s.Returned, "outside 0 … shipped")
		}
		delete(shipLedger, k)
	}
	for k, m := range shipLedger {
		out = append(out, Discrepancy{Table: "shipment", OrderID: k.order, LineNo: k.line, Part: k.part, Field: "shipped",
			Ledger: m[KindShip], Problem: "ledger rows but no shipment"})
	}

	slices.SortFunc(out, func(a, b Discrepancy) int {
		return cmp.Or(strings.Compare(a.Table, b.Table), strings.Compare(a.SKU, b.SKU),
			strings.Compare(a.Location, b.Location), strings.Compare(a.Slot, b.Slot), strings.Compare(a.Channel, b.Channel),
			strings.Compare(a.OrderID, b.OrderID), a.LineNo-b.LineNo, a.Part-b.Part, strings.Compare(a.Field, b.Field))
	})
	return out, nil
}

func auditSlot(s Slot, m map[string]int64) []Discrepancy {
	var out []Discrepancy
	add := func(field string, ledger, actual int64, problem string) {
		out = append(out, Discrepancy{Table: "slot", SKU: s.SKU, Location: s.Location, Slot: s.Slot, Field: field,
			Ledger: ledger, Actual: actual, Problem: problem})
	}
	putIn := m[KindAdjust] + m[KindAllocate]
	if sum := s.Sellable + s.Reserved + s.Frozen + s.Shipped; sum != putIn {
		add("total", putIn, sum, "put in differs from sellable+reserved+frozen+shipped")
	}
	for _, b := range []struct {
		field          string
		ledger, actual int64
	}{
		{"sellable", putIn - m[KindReserve] + m[KindRelease] + m[KindUnfreeze] + m[KindReturn], s.Sellable},
		{"reserved", m[KindReserve] - m[KindConfirm] - m[KindRelease], s.Reserved},
		{"frozen", m[KindConfirm] - m[KindShip] - m[KindUnfreeze], s.Frozen},
		{"shipped", m[KindShip] - m[KindReturn], s.Shipped},
	} {
		switch {
		case b.actual < 0:
			add(b.field, b.ledger, b.actual, "negative")
		case b.actual != b.ledger:
			add(b.field, b.ledger, b.actual, "differs from the ledger")
		}
	}
	return out
}
