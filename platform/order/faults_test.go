package order_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The fault-injection run. Each seed plays a random story of one order —
// place, pay (by cards that succeed, are declined, hang or lose their
// answer), cancel, the payment timeout, ship, receive, a return, recovery
// passes — while the database fails at a random statement: either for
// good (the process "crashes": nothing it does afterwards reaches the
// database) or once (a dropped connection). Then the process "restarts"
// (a new service and payments over the same database, the clock past every
// lease), recovery and the payment timeout run, and the invariants are
// checked: the money audit is clean (captured − refunded = what each order
// owes, no unresolved attempt, one kept capture), the stock ledger agrees
// with every counter, every order is at rest (paid and on its way, or
// ended), and every committed transition has its event.
//
// TMF_FAULT_SEEDS sets how many seeds run (default 500, the CI run; try
// 20000 for a long run); TMF_FAULT_SEED=N replays one seed, which a
// failure prints. The acquirer (the sandbox, whose tables share the
// database) does not crash with the platform.
func TestFaultInjectionKeepsMoneyAndStock(t *testing.T) {
	seeds, first := seedRange(t, "TMF_FAULT_SEEDS", "TMF_FAULT_SEED", 500)
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		if dialect == "mysql" {
			t.Skip("the fault run covers SQLite and PostgreSQL; MariaDB runs the conformance suites")
		}
		st := storetest.Open(t, dialect)
		k, _ := kernelFixture(t, st)
		inTx(t, st, func(tx *gorm.DB) error {
			_, err := stock.SetSellable(t.Context(), tx, "case", "east", 1_000_000, "fault run")
			return err
		})
		f := installFaults(t, st)
		run := &faultRun{t: t, st: st, k: k, acquirer: payment.NewSandbox(st.DB(context.Background())), faults: f,
			clock: &testClock{now: time.Now().UTC()}, replaying: seeds == 1}
		// The whole-ledger audits run every auditEvery seeds (they read
		// everything the seeds before wrote); each seed's own order is
		// audited at once.
		const auditEvery = 50
		for seed := first; seed < first+uint64(seeds); seed++ {
			err := run.seed(seed)
			if err == nil && ((seed-first+1)%auditEvery == 0 || seed == first+uint64(seeds)-1) {
				if err = run.checkAll(t.Context()); err != nil {
					err = fmt.Errorf("after the seeds up to this one: %w", err)
				}
			}
			if err != nil {
				t.Fatalf("seed %d: %v\nreplay: TMF_FAULT_SEED=%d go test -run TestFaultInjectionKeepsMoneyAndStock/%s ./platform/order/",
					seed, err, seed, dialect)
			}
		}
		t.Logf("%d seeds: %d crashes, %d dropped connections, %d stories ran to the end", seeds, run.crashes, run.drops, run.clean)
	})
}

// errInjected is the database failure the fault run injects.
var errInjected = errors.New("injected database failure")

// faults fails the statements of a store: the after-th statement from
// arming, then (crash) every statement until disarmed, or (drop) that one
// only. The acquirer's statements (tmf_sandbox_*) pass: the acquirer is
// another system, which does not crash with the platform.
type faults struct {
	mu      sync.Mutex
	after   int // statements to let through; -1 when disarmed
	crash   bool
	crashed bool
	hit     bool
}

// installFaults registers the fault hook before every statement of st.
func installFaults(t *testing.T, st *store.Store) *faults {
	t.Helper()
	f := &faults{after: -1}
	cb := st.DB(context.Background()).Callback()
	hook := func(db *gorm.DB) {
		if strings.HasPrefix(db.Statement.Table, "tmf_sandbox_") || strings.Contains(db.Statement.SQL.String(), "tmf_sandbox_") {
			return
		}
		if f.fail() {
			_ = db.AddError(errInjected)
		}
	}
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("tmf:faults", hook),
		cb.Query().Before("gorm:query").Register("tmf:faults", hook),
		cb.Update().Before("gorm:update").Register("tmf:faults", hook),
		cb.Delete().Before("gorm:delete").Register("tmf:faults", hook),
		cb.Row().Before("gorm:row").Register("tmf:faults", hook),
		cb.Raw().Before("gorm:raw").Register("tmf:faults", hook),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *faults) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.crashed:
		return true
	case f.after < 0:
		return false
	case f.after > 0:
		f.after--
		return false
	}
	f.hit = true
	if f.crash {
		f.crashed = true
	} else {
		f.after = -1
	}
	return true
}

func (f *faults) arm(after int, crash bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after, f.crash, f.crashed, f.hit = after, crash, false, false
}

// disarm ends the faults and says whether one happened.
func (f *faults) disarm() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	hit := f.hit
	f.after, f.crashed, f.hit = -1, false, false
	return hit
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type faultRun struct {
	t        *testing.T
	st       *store.Store
	k        *kernel.Kernel
	acquirer *payment.Sandbox
	faults   *faults
	clock    *testClock

	crashes, drops, clean int
	// replaying one seed: every audit runs after it.
	replaying bool
}

// process is one life of the server: a service and payments over the
// shared database and acquirer.
func (r *faultRun) process() *order.Service {
	pays := payment.NewPayments(r.acquirer, r.clock.Now)
	pays.CallTimeout = 30 * time.Millisecond // the hanging card must not slow the run
	svc := order.NewService(r.k, r.st, order.WithPayments(pays))
	svc.SetClock(r.clock.Now)
	return svc
}

// cards the stories pay with, and how often.
var faultCards = []string{payment.CardApproved, payment.CardApproved, payment.CardApproved, payment.CardAnswerLost,
	payment.CardDeclined, payment.CardCaptureHangs}

// seed plays one story with its fault, restarts, recovers and checks.
func (r *faultRun) seed(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	svc := r.process()
	buyer := order.Buyer{ID: fmt.Sprintf("buyer-%d", seed%7)}
	qty := int64(1 + rng.IntN(3))

	// The order is placed before the fault is armed half of the time, so
	// that most faults land in payment, cancellation, timeout and returns.
	var id string
	armed := false
	arm := func() {
		crash := rng.IntN(3) > 0
		r.faults.arm(rng.IntN(40), crash)
		armed = true
	}
	if rng.IntN(2) == 0 {
		arm()
	}
	v, err := svc.Place(ctx, buyer, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
		Items: []order.Item{{SKU: "case", Quantity: qty}}}, nil)
	if err == nil {
		id = v.ID
	}
	if !armed {
		arm()
	}
	if id != "" {
		r.story(ctx, rng, svc, id)
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
		// The placement failed: nothing of it may remain (checked by the
		// stock audit below) — unless its transaction committed and only
		// the answer was lost; find it by buyer then.
		ids, err := r.ordersOf(ctx, buyer.ID)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			id = ids[0]
		}
	}

	// Restart: a new process, after every lease and the callers' grace.
	svc = r.process()
	r.clock.Advance(payment.DefaultLease + payment.DefaultRetryAfter + time.Second)
	if err := r.recover(ctx, svc); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	if id != "" {
		if err := r.settle(ctx, svc, id); err != nil {
			return err
		}
	}
	return r.check(ctx, id)
}

// story fires random steps at an order; their errors are the faults'.
func (r *faultRun) story(ctx context.Context, rng *rand.Rand, svc *order.Service, id string) {
	steps := 2 + rng.IntN(6)
	for range steps {
		switch rng.IntN(9) {
		case 0, 1, 2:
			card := faultCards[rng.IntN(len(faultCards))]
			key := fmt.Sprintf("k%d", rng.IntN(3)) // keys repeat: retries
			if rng.IntN(4) == 0 {
				// A payment racing a cancellation or the timeout.
				var wg sync.WaitGroup
				wg.Go(func() {
					_, _ = svc.Pay(ctx, id, order.PayRequest{Key: key, Card: &payment.Card{Number: card}, Actor: "buyer"})
				})
				wg.Go(func() { r.endUnpaid(ctx, rng.IntN(2) == 0, svc, id) })
				wg.Wait()
				continue
			}
			_, _ = svc.Pay(ctx, id, order.PayRequest{Key: key, Card: &payment.Card{Number: card}, Actor: "buyer"})
		case 3:
			_, _ = svc.Fire(ctx, id, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
		case 4:
			r.endUnpaid(ctx, true, svc, id)
		case 5:
			_, _ = svc.Fire(ctx, id, order.Event{Name: lifecycle.EventShip, Actor: "ops"})
		case 6:
			_, _ = svc.Fire(ctx, id, order.Event{Name: lifecycle.EventReceive, Actor: "buyer"})
		case 7:
			// A return: requested, approved, and received (refund and restock).
			ret := fmt.Sprintf("r%d", rng.IntN(2))
			_, _ = svc.Return(ctx, id, order.ReturnRequest{ReturnID: ret, Items: []order.ReturnItem{{SKU: "case", Quantity: 1}}, Actor: "buyer"})
			_, _ = svc.ReturnStep(ctx, id, order.ReturnStepRequest{ReturnID: ret, Step: order.ReturnApprove, Actor: "ops"})
			_, _ = svc.ReturnStep(ctx, id, order.ReturnStepRequest{ReturnID: ret, Step: order.ReturnReceive, Actor: "ops"})
		case 8:
			_, _ = svc.RecoverPayments(ctx, 10)
		}
	}
}

// endUnpaid fires the payment timeout (after its deadline) or a cancel.
func (r *faultRun) endUnpaid(ctx context.Context, timeout bool, svc *order.Service, id string) {
	if timeout {
		_, _ = svc.TimeOut(ctx, id, "system:payment-timeout")
		return
	}
	_, _ = svc.Fire(ctx, id, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
}

// recover runs recovery passes until nothing is left to take.
func (r *faultRun) recover(ctx context.Context, svc *order.Service) error {
	for range 20 {
		st, err := svc.RecoverPayments(ctx, 100)
		if err != nil {
			return err
		}
		if st.Taken == 0 {
			return nil
		}
		r.clock.Advance(payment.DefaultMaxBackoff)
	}
	return errors.New("recovery never ran dry")
}

// settle brings the order to rest as the running system would: an unpaid
// order times out (its attempts settled first), and recovery pays what
// that owes.
func (r *faultRun) settle(ctx context.Context, svc *order.Service, id string) error {
	v, err := svc.Get(ctx, id)
	if err != nil {
		return err
	}
	if v.Status == lifecycle.PendingPayment {
		r.clock.Advance(kernel.DefaultPaymentTimeout + time.Minute)
		if _, err := svc.TimeOut(ctx, id, "system:payment-timeout"); err != nil {
			return fmt.Errorf("payment timeout of %s after recovery: %w", id, err)
		}
	}
	return r.recover(ctx, svc)
}

// checkAll runs the whole-ledger audits: money of every order, stock of
// every slot.
func (r *faultRun) checkAll(ctx context.Context) error {
	money, err := order.AuditMoney(ctx, r.st.DB(ctx), r.clock.Now())
	if err != nil {
		return err
	}
	if len(money.Problems) > 0 {
		return fmt.Errorf("money audit: %+v", money.Problems)
	}
	d, err := stock.Audit(ctx, r.st.DB(ctx))
	if err != nil {
		return err
	}
	if len(d) > 0 {
		return fmt.Errorf("stock audit: %+v", d)
	}
	return nil
}

// check holds the invariants of one seed's order after recovery: its
// money, its stock (what it holds agrees with its state), its state and
// its events.
func (r *faultRun) check(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
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
	o, err := r.st.GetOrder(ctx, id)
	if err != nil {
		return err
	}
	switch o.Status {
	case lifecycle.PendingOutbound, lifecycle.PendingInbound, lifecycle.Completed, lifecycle.Cancelled:
	default:
		return fmt.Errorf("order %s is %s after recovery", id, o.Status)
	}
	hist, err := r.st.OrderHistory(ctx, id)
	if err != nil {
		return err
	}
	var steps int64
	if err := r.st.DB(ctx).Model(&store.OutboxEvent{}).
		Where("aggregate_id = ? AND topic IN ?", id, events.LifecycleTypes()).
		Count(&steps).Error; err != nil {
		return err
	}
	if int(steps) != len(hist) {
		return fmt.Errorf("order %s: %d history steps but %d lifecycle events", id, len(hist), steps)
	}
	return nil
}

// ordersOf finds the order a failed placement may have committed.
func (r *faultRun) ordersOf(ctx context.Context, buyer string) ([]string, error) {
	var ids []string
	err := r.st.DB(ctx).Model(&store.Order{}).Where("buyer_id = ? AND created_at >= ?", buyer,
		r.clock.Now().Add(-time.Second)).Order("id").Pluck("id", &ids).Error
	return ids, err
}
