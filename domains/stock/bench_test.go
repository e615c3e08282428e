package stock_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"gorm.io/gorm"
)

// BenchmarkReserve measures reservations per second: each operation is one
// transaction with one Reserve of 1 unit for a distinct order, 8 goroutines
// per CPU at once. Stock never runs out (a billion units per SKU).
//
//	hot       every order takes the same SKU: one row, every transaction waits for the one before
//	buckets8  the same SKU split into 8 buckets, buyers spread over them
//	spread    orders spread at random over 1000 SKUs
func BenchmarkReserve(b *testing.B) {
	const plenty, spreadSKUs = 1_000_000_000, 1000
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			if dialect == "postgres" && os.Getenv(storetest.EnvPostgres) == "" {
				b.Skipf("%s is not set: skipping the PostgreSQL benchmarks", storetest.EnvPostgres)
			}
			ctx := context.Background()
			s := storetest.Open(b, dialect)
			if err := s.MigrateModels(ctx, stock.Models()...); err != nil {
				b.Fatal(err)
			}
			put := func(sku string) {
				mustTx(b, s, func(tx *gorm.DB) error {
					_, err := stock.SetSellable(ctx, tx, sku, "w1", plenty, "bench")
					return err
				})
			}
			put("hot")
			put("hot8")
			mustTx(b, s, func(tx *gorm.DB) error { return stock.SplitBuckets(ctx, tx, "hot8", "w1", 8) })
			for i := range spreadSKUs {
				put(fmt.Sprintf("sku-%04d", i))
			}
			var orders atomic.Int64
			for _, bc := range []struct {
				name string
				sku  func(n int64) string
			}{
				{"hot", func(int64) string { return "hot" }},
				{"buckets8", func(int64) string { return "hot8" }},
				{"spread", func(n int64) string { return fmt.Sprintf("sku-%04d", (n*7919)%spreadSKUs) }},
			} {
				b.Run(bc.name, func(b *testing.B) {
					b.SetParallelism(8)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							n := orders.Add(1)
							id := fmt.Sprintf("b-%010d", n)
							err := s.Tx(ctx, func(tx *gorm.DB) error {
								return stock.Reserve(ctx, tx, stock.ReserveRequest{OrderID: id, Location: "w1", BuyerID: id,
									Lines: []stock.LineQty{{LineNo: 1, SKU: bc.sku(n), Quantity: 1}}})
							})
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
				})
			}
		})
	}
}
