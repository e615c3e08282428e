package bizpackhost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/bizpackhost/internal/benchpack"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

const benchSKUs = 200

// BenchmarkPlaceOrder places orders through the order service on a real
// store, 8 goroutines per CPU, with every point of the placement phase
// served by the same bizpack (internal/benchpack): in the server's process,
// then as a plugin process over gRPC with mutual TLS. Both run in one
// `go test -bench` so their rates compare on the same machine state:
//
//	go test -run '^$' -bench PlaceOrder -benchtime 5s ./platform/bizpackhost/
//
// orders/s is the rate; roundtrips/order counts the batches sent to the
// plugin per order (8 points, grouped in phases by Prefetch). The plugin
// runs sandboxed ("bizpack": cgroups or rlimits, Landlock, the shim) and
// without any sandbox ("bizpack-nosandbox"), to show the sandbox's cost.
func BenchmarkPlaceOrder(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			if dialect == "postgres" && os.Getenv(storetest.EnvPostgres) == "" {
				b.Skipf("%s is not set: skipping the PostgreSQL benchmark", storetest.EnvPostgres)
			}
			for _, mode := range []string{"in-process", "bizpack", "bizpack-nosandbox"} {
				b.Run(mode, func(b *testing.B) { benchPlace(b, dialect, mode) })
			}
		})
	}
}

func benchPlace(b *testing.B, dialect, mode string) {
	ctx := context.Background()
	st := storetest.Open(b, dialect)
	seedBench(b, st)
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		b.Fatal(err)
	}
	var trips func() int64
	switch mode {
	case "in-process":
		bp, err := kernel.InProcessBizpack(k.Catalogue(), benchpack.New())
		if err != nil {
			b.Fatal(err)
		}
		if err := k.Registry().PutBizpack(bp); err != nil {
			b.Fatal(err)
		}
	default:
		h := bizpackhost.New(k, benchOptions(mode == "bizpack"))
		b.Cleanup(h.Close)
		if _, err := h.Load(ctx, bizpackhost.Spec{Name: "bench", Path: bins.bench, SHA256: bins.sumBench}); err != nil {
			b.Fatal(err)
		}
		trips = func() int64 { return h.States()[0].RoundTrips }
	}
	if _, err := k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{{Code: "retail",
		Products: []kernel.ProductRef{{Name: "standard-retail"}}, Bizpacks: []kernel.BizpackRef{{Name: "bench"}}}}}); err != nil {
		b.Fatal(err)
	}
	svc := order.NewService(k, st)
	var n, late atomic.Int64
	var before int64
	if trips != nil {
		before = trips()
	}
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := svc.Place(ctx, order.Buyer{ID: fmt.Sprintf("buyer-%d", i%500)}, order.PlaceRequest{BizCode: "retail",
				Items:           []order.Item{{SKU: fmt.Sprintf("bench-%03d", i%benchSKUs), Quantity: 1}},
				ShippingAddress: &extensions.Address{Region: "east"}, PaymentMethod: "card"}, nil)
			var ee *kernel.ExtensionError
			if errors.As(err, &ee) && ee.Outcome == kernel.OutcomeTimeout || errors.Is(err, bizpackhost.ErrBreakerOpen) {
				// A starved machine misses extension deadlines (and
				// repeated misses open a point's breaker): counted
				// (late/order), not a failure of the benchmark.
				late.Add(1)
				continue
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(float64(late.Load())/float64(b.N), "late/order")
	if trips != nil {
		b.ReportMetric(float64(trips()-before)/float64(b.N), "roundtrips/order")
	}
}

func seedBench(b *testing.B, st *store.Store) {
	ctx := context.Background()
	for i := range benchSKUs {
		if err := st.PutSKU(ctx, store.SKU{SKU: fmt.Sprintf("bench-%03d", i), Title: "Bench", Price: 12000, Currency: "CNY",
			Category: "bench", WeightGrams: 500}); err != nil {
			b.Fatal(err)
		}
	}
	err := st.Tx(ctx, func(tx *gorm.DB) error {
		if err := stock.PutLocation(ctx, tx, stock.Location{Name: "wh", Regions: "east", Priority: 1}); err != nil {
			return err
		}
		for i := range benchSKUs {
			if _, err := stock.SetSellable(ctx, tx, fmt.Sprintf("bench-%03d", i), "wh", 1_000_000_000, "bench"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// benchOptions are the host's defaults, with the sandbox or without any of
// it (no limits, no shim, no cgroups, no Landlock).
func benchOptions(sandbox bool) bizpackhost.Options {
	if sandbox {
		return bizpackhost.Options{}
	}
	return bizpackhost.Options{Limits: bizpackhost.Limits{Off: true}, NoLandlock: true, NoCgroups: true}
}

// BenchmarkStart measures a bizpack's start, from Load to healthy and in
// force, with and without the sandbox (the shim's extra exec, its cgroups,
// rlimits and Landlock). Each Load starts a new process beside the one in
// force, copying and hashing the binary it runs; the host's one-time copy
// of the shim is made before the timer starts:
//
//	go test -run '^$' -bench Start -benchtime 20x ./platform/bizpackhost/
func BenchmarkStart(b *testing.B) {
	for _, mode := range []string{"sandbox", "nosandbox"} {
		b.Run(mode, func(b *testing.B) {
			k, err := catalog.NewKernel(kernel.WithoutMetrics())
			if err != nil {
				b.Fatal(err)
			}
			o := benchOptions(mode == "sandbox")
			o.Drain = time.Millisecond // replaced versions stop at once
			h := bizpackhost.New(k, o)
			b.Cleanup(h.Close)
			spec := bizpackhost.Spec{Name: "bench", Path: bins.bench, SHA256: bins.sumBench}
			if _, err := h.Load(context.Background(), spec); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := h.Load(context.Background(), spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
