package store_test

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// BenchmarkCreateOrder measures the order transaction (order + 3 lines +
// history + outbox event, then the stock domain's reservation step: ledger
// row + conditional decrement of the SKU's slot) with
// orders spread over many SKUs; BenchmarkCreateOrderHotSKU with every order
// on one SKU, whose row lock serialises them. PostgreSQL and MySQL run 16
// concurrent writers on a 16-connection pool.
func BenchmarkCreateOrder(b *testing.B)       { benchCreateOrder(b, 1000) }
func BenchmarkCreateOrderHotSKU(b *testing.B) { benchCreateOrder(b, 1) }

func benchCreateOrder(b *testing.B, skus int) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s := storetest.Open(b, dialect, store.WithMaxOpenConns(16))
			for i := range skus {
				seed(b, s, fmt.Sprint("sku-", i), 1<<40)
			}
			var seq atomic.Int64
			b.SetParallelism(8) // 16 writers on 2 cores: enough to fill the pool
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("o-%d", seq.Add(1))
					sku := fmt.Sprint("sku-", rand.IntN(skus))
					n := newOrder(id, reserve(sku, 1))
					n.Order.Lines = append(n.Order.Lines,
						store.OrderLine{SKU: "gift-wrap", Quantity: 1, ListPrice: 500, UnitPrice: 0},
						store.OrderLine{SKU: "card", Quantity: 1, ListPrice: 200, UnitPrice: 200, LineTotal: 200})
					if err := s.CreateOrder(b.Context(), n); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
		})
	}
}
