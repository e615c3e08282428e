package stock_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"gorm.io/gorm"
)

// The audit recomputes every counter from the ledger: corrupting a slot, a
// cap's used counter and a shipment by hand is reported, exactly.
func TestAuditReportsCorruption(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := context.Background()
		setSellable(t, s, "a", "w1", 10)
		mustTx(t, s, func(tx *gorm.DB) error {
			return stock.SetChannel(ctx, tx, stock.ChannelConfig{SKU: "a", Location: "w1", Channel: "app",
				Mode: stock.ModeShared, Quantity: 5})
		})
		if err := reserveOne(s, "o-1", "app", "b", "a", 3); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{stock.KindConfirm, stock.KindShip} {
			mustTx(t, s, func(tx *gorm.DB) error { return stock.Move(ctx, tx, "o-1", kind) })
		}
		db := s.DB(ctx)
		wantSound(t, db)

		// An oversell: sellable raised without a ledger row.
		exec(t, db, "UPDATE tmf_stock_slots SET sellable = sellable + 2 WHERE sku = 'a' AND slot = ''")
		// A cap that forgot what it counted.
		exec(t, db, "UPDATE tmf_stock_channels SET used = 1 WHERE sku = 'a' AND channel = 'app'")
		// A shipment that claims a return that never happened.
		exec(t, db, "UPDATE tmf_stock_shipments SET returned = 1 WHERE order_id = 'o-1'")
		// A negative bucket.
		exec(t, db, "UPDATE tmf_stock_slots SET frozen = -1 WHERE sku = 'a' AND slot = ''")

		got, err := stock.Audit(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		want := []stock.Discrepancy{
			{Table: "channel", SKU: "a", Location: "w1", Channel: "app", Field: "used", Ledger: 3, Actual: 1,
				Problem: "differs from the ledger"},
			{Table: "shipment", SKU: "a", Location: "w1", OrderID: "o-1", LineNo: 1, Part: 1, Field: "returned",
				Ledger: 0, Actual: 1, Problem: "differs from the ledger"},
			{Table: "slot", SKU: "a", Location: "w1", Field: "frozen", Ledger: 0, Actual: -1, Problem: "negative"},
			{Table: "slot", SKU: "a", Location: "w1", Field: "sellable", Ledger: 7, Actual: 9, Problem: "differs from the ledger"},
			{Table: "slot", SKU: "a", Location: "w1", Field: "total", Ledger: 10, Actual: 11,
				Problem: "put in differs from sellable+reserved+frozen+shipped"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("audit:\n got %v\nwant %v", got, want)
		}

		// A ledger row for a slot that does not exist.
		exec(t, db, "DELETE FROM tmf_stock_slots WHERE sku = 'a'")
		got, err = stock.Audit(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(got, func(d stock.Discrepancy) bool { return d.Table == "slot" }); i < 0 ||
			got[i].Problem != "ledger rows (adjust 10) but no slot" {
			t.Errorf("audit after deleting the slot: %v", got)
		}
	})
}

func exec(t *testing.T, db *gorm.DB, sql string) {
	t.Helper()
	if res := db.Exec(sql); res.Error != nil || res.RowsAffected != 1 {
		t.Fatalf("%s: %v, %d rows", sql, res.Error, res.RowsAffected)
	}
}
