package stock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"gorm.io/gorm"
)

// open runs fn per dialect with a store migrated for the stock tables.
func forEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if err := s.MigrateModels(context.Background(), stock.Models()...); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
}

// buckets of one slot: sellable, reserved, frozen, shipped.
type buckets [4]int64

// slotsOf returns the slots of sku at location.
func slotsOf(t testing.TB, db *gorm.DB, sku, location string) map[string]buckets {
	t.Helper()
	var rows []stock.Slot
	if err := db.Where("sku = ? AND location = ?", sku, location).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]buckets{}
	for _, r := range rows {
		out[r.Slot] = buckets{r.Sellable, r.Reserved, r.Frozen, r.Shipped}
	}
	return out
}

// wantSlots checks every slot of sku at location: those in want hold
// exactly that, the others nothing.
func wantSlots(t testing.TB, db *gorm.DB, sku, location string, want map[string]buckets) {
	t.Helper()
	got := slotsOf(t, db, sku, location)
	for _, slot := range slices.Sorted(maps.Keys(got)) {
		if w, ok := want[slot]; !ok && got[slot] != (buckets{}) || ok && got[slot] != w {
			t.Errorf("%s at %s slot %q = %v, want %v (all slots %v)", sku, location, slot, got[slot], w, got)
		}
	}
	for slot, w := range want {
		if _, ok := got[slot]; !ok && w != (buckets{}) {
			t.Errorf("%s at %s has no slot %q, want %v", sku, location, slot, w)
		}
	}
}

// wantSound checks that the audit finds nothing.
func wantSound(t testing.TB, db *gorm.DB) {
	t.Helper()
	ds, err := stock.Audit(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		t.Errorf("audit: %s", d)
	}
}

// errCode names the kind of a refusal, as the testdata spells it.
func errCode(err error) string {
	var oos *stock.OutOfStockError
	var st *stock.StateError
	var re *stock.ReturnError
	var ce *stock.ConflictError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &oos):
		return "out_of_stock"
	case errors.As(err, &st):
		return "state"
	case errors.As(err, &re):
		return "return"
	case errors.As(err, &ce):
		return "conflict"
	case errors.Is(err, stock.ErrInvalid):
		return "invalid"
	}
	return "other: " + err.Error()
}

// step is one operation of a scenario in testdata/*.json. SKUs, locations
// and order ids are prefixed per case so that the cases share one database;
// buyers are not (they choose the bucket).
type step struct {
	Op       string          `json:"op"`
	SKU      string          `json:"sku"`
	Location string          `json:"location"`
	Channel  string          `json:"channel"`
	Mode     string          `json:"mode"`
	Quantity int64           `json:"quantity"`
	Order    string          `json:"order"`
	Buyer    string          `json:"buyer"`
	Kind     string          `json:"kind"`
	ReturnID string          `json:"returnId"`
	Lines    []stock.LineQty `json:"lines"`
	Regions  string          `json:"regions"`
	Priority int             `json:"priority"`
	SKUs     []string        `json:"skus"`

	// Expectations.
	Error      string                            `json:"error"`
	Available  *int64                            `json:"available"`
	Returnable *int64                            `json:"returnable"`
	Reason     string                            `json:"reason"`
	Slots      map[string]map[string]buckets     `json:"slots"`
	Channels   map[string][]stock.ChannelSetting `json:"channels"`
	Buckets    map[string]int                    `json:"buckets"`
	Parts      map[string][]part                 `json:"parts"`
	Stock      map[string]map[string]int64       `json:"stock"`
	// Locations are the case's locations as availability lists them, in
	// order: "name:priority:regions".
	Locations []string `json:"locations"`
}

// part is a reserve row of an order, as a scenario expects it.
type part struct {
	Line     int    `json:"line"`
	Slot     string `json:"slot"`
	Quantity int64  `json:"quantity"`
	Channel  string `json:"channel,omitempty"`
}

type scenario struct {
	Name  string `json:"name"`
	Steps []step `json:"steps"`
}

// runScenarios runs the cases of a testdata file on every dialect, one
// database per dialect, each case checked by the audit at its end.
func runScenarios(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []scenario
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatal(err)
	}
	forEach(t, func(t *testing.T, s *store.Store) {
		for i, tc := range cases {
			t.Run(tc.Name, func(t *testing.T) {
				p := fmt.Sprintf("c%02d.", i)
				for n, st := range tc.Steps {
					runStep(t, s, p, n, st)
				}
				wantSound(t, s.DB(t.Context()))
			})
		}
	})
}

func runStep(t *testing.T, s *store.Store, p string, n int, st step) {
	t.Helper()
	ctx := t.Context()
	loc := p + cmpOr(st.Location, "w1")
	lines := slices.Clone(st.Lines)
	for i := range lines {
		if lines[i].SKU != "" {
			lines[i].SKU = p + lines[i].SKU
		}
	}
	var stockGot []any
	var locsGot []string
	err := s.Tx(ctx, func(tx *gorm.DB) error {
		switch st.Op {
		case "location":
			return stock.PutLocation(ctx, tx, stock.Location{Name: loc, Regions: st.Regions, Priority: st.Priority})
		case "sellable":
			_, err := stock.SetSellable(ctx, tx, p+st.SKU, loc, st.Quantity, "test")
			return err
		case "channel":
			return stock.SetChannel(ctx, tx, stock.ChannelConfig{SKU: p + st.SKU, Location: loc, Channel: st.Channel,
				Mode: st.Mode, Quantity: st.Quantity})
		case "removeChannel":
			return stock.RemoveChannel(ctx, tx, p+st.SKU, loc, st.Channel, st.Mode)
		case "split":
			return stock.SplitBuckets(ctx, tx, p+st.SKU, loc, int(st.Quantity))
		case "merge":
			return stock.MergeBuckets(ctx, tx, p+st.SKU, loc)
		case "reserve":
			return stock.Reserve(ctx, tx, stock.ReserveRequest{OrderID: p + st.Order, Location: loc, Channel: st.Channel,
				BuyerID: st.Buyer, Lines: lines})
		case "move":
			return stock.Move(ctx, tx, p+st.Order, st.Kind)
		case "return":
			return stock.Return(ctx, tx, stock.ReturnRequest{OrderID: p + st.Order, ReturnID: st.ReturnID, Lines: lines})
		case "availability":
			skus := make([]string, len(st.SKUs))
			for i, sku := range st.SKUs {
				skus[i] = p + sku
			}
			got, err := stock.Availability(ctx, tx, st.Channel, skus)
			for _, l := range got {
				if name, ok := strings.CutPrefix(l.Location, p); ok {
					locsGot = append(locsGot, fmt.Sprintf("%s:%d:%s", name, l.Priority, strings.Join(l.Regions, ",")))
					m := map[string]int64{}
					for sku, q := range l.Sellable {
						m[strings.TrimPrefix(sku, p)] = q
					}
					stockGot = append(stockGot, name, m)
				}
			}
			return err
		}
		t.Fatalf("step %d: unknown op %q", n, st.Op)
		return nil
	})
	what := fmt.Sprintf("step %d (%s %s%s)", n, st.Op, st.Order, st.SKU)
	if got := errCode(err); got != st.Error {
		t.Fatalf("%s: error %q (%v), want %q", what, got, err, st.Error)
	}
	checkRefusal(t, what, err, st)
	db := s.DB(ctx)
	for key, want := range st.Slots {
		sku, l, _ := strings.Cut(key, "@")
		wantSlots(t, db, p+sku, p+cmpOr(l, "w1"), want)
	}
	if st.Channels != nil || st.Buckets != nil {
		checkSettings(t, db, p, what, st)
	}
	for order, want := range st.Parts {
		var rows []stock.LedgerEntry
		if err := db.Where("order_id = ? AND kind = ?", p+order, stock.KindReserve).Order("line_no").Order("part").
			Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		got := make([]part, len(rows))
		for i, r := range rows {
			got[i] = part{Line: r.LineNo, Slot: r.Slot, Quantity: r.Quantity, Channel: r.Channel}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: parts of %s = %+v, want %+v", what, order, got, want)
		}
	}
	if st.Stock != nil {
		got := map[string]map[string]int64{}
		for i := 0; i < len(stockGot); i += 2 {
			got[stockGot[i].(string)] = stockGot[i+1].(map[string]int64)
		}
		if !maps.EqualFunc(got, st.Stock, maps.Equal) {
			t.Errorf("%s: availability %v, want %v", what, got, st.Stock)
		}
	}
	if st.Locations != nil && !slices.Equal(locsGot, st.Locations) {
		t.Errorf("%s: locations %q, want %q", what, locsGot, st.Locations)
	}
}

func checkRefusal(t *testing.T, what string, err error, st step) {
	t.Helper()
	var oos *stock.OutOfStockError
	var se *stock.StateError
	var re *stock.ReturnError
	switch {
	case errors.As(err, &oos):
		if st.Available != nil && oos.Available != *st.Available {
			t.Errorf("%s: %v: available %d, want %d", what, err, oos.Available, *st.Available)
		}
	case errors.As(err, &se):
		if st.Reason != "" && se.Reason != st.Reason {
			t.Errorf("%s: %v: reason %q, want %q", what, err, se.Reason, st.Reason)
		}
	case errors.As(err, &re):
		if st.Returnable != nil && re.Returnable != *st.Returnable {
			t.Errorf("%s: %v: returnable %d, want %d", what, err, re.Returnable, *st.Returnable)
		}
	}
}

// checkSettings compares the channel settings and bucket counts of the
// SKUs named in the step's expectations (keys sku or sku@location).
func checkSettings(t *testing.T, db *gorm.DB, p, what string, st step) {
	t.Helper()
	keys := slices.Collect(maps.Keys(st.Channels))
	for k := range st.Buckets {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, key := range keys {
		sku, l, _ := strings.Cut(key, "@")
		levels, err := stock.Levels(t.Context(), db, p+sku)
		if err != nil {
			t.Fatal(err)
		}
		var lv stock.Level
		for _, x := range levels {
			if x.Location == p+cmpOr(l, "w1") {
				lv = x
			}
		}
		if want, ok := st.Channels[key]; ok && !slices.Equal(lv.Channels, want) {
			t.Errorf("%s: channels of %s = %+v, want %+v", what, key, lv.Channels, want)
		}
		if want, ok := st.Buckets[key]; ok && lv.Buckets != want {
			t.Errorf("%s: %s has %d buckets, want %d", what, key, lv.Buckets, want)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
