package order_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// TestFaultInjectionSubOrders is the fault run of parent and sub-orders:
// each seed places an order that splits over two locations, plays a random
// story on the parent and its sub-orders (pay by cards that succeed, are
// declined, hang or lose their answer; cancel the parent or a sub-order,
// the payment timeout racing a payment, ship, receive, a return of a
// sub-order, recovery) while the database crashes or drops a connection at
// a random statement; then the process restarts, recovery and the timeout
// run, and the invariants are checked: the parent's money audit (captured −
// refunded = what its sub-orders owe), the stock audit, every sub-order and
// the parent at rest, the parent's status derived from its sub-orders, and
// every committed transition (parent's and sub-orders') with its event.
// Finally a full reconciliation finds nothing. TMF_FAULT_SEEDS and
// TMF_FAULT_SEED work as for TestFaultInjectionKeepsMoneyAndStock (default
// 60 seeds here: a family's story writes about three times an order's).
func TestFaultInjectionSubOrders(t *testing.T) {
	seeds, first := 60, uint64(1)
	if v := os.Getenv("TMF_FAULT_SEEDS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			seeds = n
		}
	}
	if v := os.Getenv("TMF_FAULT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TMF_FAULT_SEED=%q: want a number", v)
		}
		seeds, first = 1, n
	}
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		if dialect == "mysql" {
			t.Skip("the fault run covers SQLite and PostgreSQL; MariaDB runs the sub-order API and race tests")
		}
		st := storetest.Open(t, dialect)
		k, _ := kernelFixture(t, st)
		if err := st.PutSKU(t.Context(), store.SKU{SKU: "charger", Title: "Charger", Price: 1999, Currency: "CNY", Category: "accessory",
			WeightGrams: 200}); err != nil {
			t.Fatal(err)
		}
		inTx(t, st, func(tx *gorm.DB) error {
			ctx := t.Context()
			if err := stock.PutLocation(ctx, tx, stock.Location{Name: "east-2", Regions: "east", Priority: 1}); err != nil {
				return err
			}
			if _, err := stock.SetSellable(ctx, tx, "case", "east", 1_000_000, "fault run"); err != nil {
				return err
			}
			_, err := stock.SetSellable(ctx, tx, "charger", "east-2", 1_000_000, "fault run")
			return err
		})
		f := installFaults(t, st)
		run := &faultRun{t: t, st: st, k: k, acquirer: payment.NewSandbox(st.DB(context.Background())), faults: f,
			clock: &testClock{now: time.Now().UTC()}, replaying: seeds == 1}
		for seed := first; seed < first+uint64(seeds); seed++ {
			err := run.subSeed(seed)
			if err == nil && ((seed-first+1)%50 == 0 || seed == first+uint64(seeds)-1) {
				err = run.checkAll(t.Context())
			}
			if err != nil {
				t.Fatalf("seed %d: %v\nreplay: TMF_FAULT_SEED=%d go test -run TestFaultInjectionSubOrders/%s ./platform/order/",
					seed, err, seed, dialect)
			}
		}
		if got := reconcileFindings(t, st); len(got) != 0 {
			t.Fatalf("reconciliation after the fault run: %v", got)
		}
		t.Logf("%d seeds: %d crashes, %d dropped connections, %d stories ran to the end", seeds, run.crashes, run.drops, run.clean)
	})
}

func (r *faultRun) subSeed(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed2701))
	ctx := context.Background()
	svc := r.process()
	buyer := order.Buyer{ID: fmt.Sprintf("sub-buyer-%d", seed%5)}
	armed := false
	arm := func() {
		r.faults.arm(rng.IntN(60), rng.IntN(3) > 0)
		armed = true
	}
	if rng.IntN(2) == 0 {
		arm()
	}
	var id string
	var kids []string
	v, err := svc.Place(ctx, buyer, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
		Items: []order.Item{{SKU: "case", Quantity: 1 + int64(rng.IntN(2))}, {SKU: "charger", Quantity: 1}}}, nil)
	if err == nil {
		if len(v.SubOrders) != 2 {
			return fmt.Errorf("order %s did not split: %+v", v.ID, v)
		}
		id, kids = v.ID, []string{v.SubOrders[0].ID, v.SubOrders[1].ID}
	}
	if !armed {
		arm()
	}
	if id != "" {
		r.subStory(ctx, rng, svc, id, kids)
	}
	crashed := r.faults.crashed
	if r.faults.disarm() {
		if crashed {
			r.crashes++
		} else {
			r.drops++
		}
	} else {
		r.clean++
	}
	if id == "" {
		ids, err := r.ordersOf(ctx, buyer.ID)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			id = ids[0] // the parent sorts before its sub-orders
		}
	}
	svc = r.process()
	r.clock.Advance(payment.DefaultLease + payment.DefaultRetryAfter + time.Second)
	if err := r.recover(ctx, svc); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	if id == "" {
		return nil
	}
	if err := r.settle(ctx, svc, id); err != nil {
		return err
	}
	return r.checkFamily(ctx, svc, id)
}

func (r *faultRun) subStory(ctx context.Context, rng *rand.Rand, svc *order.Service, id string, kids []string) {
	kid := func() string { return kids[rng.IntN(len(kids))] }
	for range 3 + rng.IntN(6) {
		switch rng.IntN(10) {
		case 0, 1, 2:
			pay := order.PayRequest{Key: fmt.Sprintf("k%d", rng.IntN(3)), Card: &payment.Card{Number: faultCards[rng.IntN(len(faultCards))]},
				Actor: "buyer"}
			if rng.IntN(4) == 0 {
				var wg sync.WaitGroup
				wg.Go(func() { _, _ = svc.Pay(ctx, id, pay) })
				wg.Go(func() { r.endUnpaid(ctx, rng.IntN(2) == 0, svc, id) })
				wg.Wait()
				continue
			}
			_, _ = svc.Pay(ctx, id, pay)
		case 3:
			_, _ = svc.Fire(ctx, kid(), order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
		case 4:
			// Two sub-orders cancelled at once.
			var wg sync.WaitGroup
			for _, k := range kids {
				wg.Go(func() { _, _ = svc.Fire(ctx, k, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"}) })
			}
			wg.Wait()
		case 5:
			_, _ = svc.Fire(ctx, id, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
		case 6:
			_, _ = svc.Fire(ctx, kid(), order.Event{Name: lifecycle.EventShip, Actor: "ops"})
		case 7:
			_, _ = svc.Fire(ctx, kid(), order.Event{Name: lifecycle.EventReceive, Actor: "buyer"})
		case 8:
			k := kids[0] // the case: a return of one unit
			ret := fmt.Sprintf("r%d", rng.IntN(2))
			_, _ = svc.Return(ctx, k, order.ReturnRequest{ReturnID: ret, Items: []order.ReturnItem{{SKU: "case", Quantity: 1}}, Actor: "buyer"})
			_, _ = svc.ReturnStep(ctx, k, order.ReturnStepRequest{ReturnID: ret, Step: order.ReturnApprove, Actor: "ops"})
			_, _ = svc.ReturnStep(ctx, k, order.ReturnStepRequest{ReturnID: ret, Step: order.ReturnReceive, Actor: "ops"})
		case 9:
			_, _ = svc.RecoverPayments(ctx, 10)
		}
	}
}

// checkFamily holds the invariants of one seed's family after recovery.
func (r *faultRun) checkFamily(ctx context.Context, svc *order.Service, id string) error {
	money, err := order.AuditMoneyOf(ctx, r.st.DB(ctx), r.clock.Now(), id)
	if err != nil {
		return err
	}
	if len(money.Problems) > 0 {
		return fmt.Errorf("money audit: %+v", money.Problems)
	}
	if r.replaying {
		if err := r.checkAll(ctx); err != nil {
			return err
		}
	}
	p, err := svc.Get(ctx, id)
	if err != nil {
		return err
	}
	ids := []string{p.ID}
	for _, k := range p.SubOrders {
		ids = append(ids, k.ID)
		switch k.Status {
		case lifecycle.PendingOutbound, lifecycle.PendingInbound, lifecycle.Completed, lifecycle.Cancelled:
		default:
			return fmt.Errorf("sub-order %s is %s after recovery", k.ID, k.Status)
		}
	}
	switch p.Status {
	case order.StatusPaid, lifecycle.Completed, lifecycle.Cancelled:
	default:
		return fmt.Errorf("parent %s is %s after recovery", id, p.Status)
	}
	for _, oid := range ids {
		hist, err := r.st.OrderHistory(ctx, oid)
		if err != nil {
			return err
		}
		var steps int64
		if err := r.st.DB(ctx).Model(&store.OutboxEvent{}).Where("aggregate_id = ? AND topic IN ?", oid, events.LifecycleTypes()).
			Count(&steps).Error; err != nil {
			return err
		}
		if int(steps) != len(hist) {
			return fmt.Errorf("order %s: %d history steps but %d lifecycle events", oid, len(hist), steps)
		}
	}
	return nil
}
