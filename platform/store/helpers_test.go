package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// The store keeps no stock since the stock domain owns its tables; these
// tests put the stock domain's operations into the store's transactions as
// steps, the way the order service does, to test what the store promises
// about them: they commit with the order or not at all.

// clock is a settable time source for store.WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// utc is what the store gives back for t.
func utc(t time.Time) time.Time { return t.UTC().Truncate(store.Precision) }

// location is where the tests keep their stock.
const location = "wh1"

// item is an order line to reserve stock for.
type item struct {
	sku string
	qty int64
}

func reserve(sku string, qty int64) item { return item{sku, qty} }

// newOrder is an order with a line per item, one history step and one
// outbox event; when it has items, one step reserves their stock at
// location, as the order service's placement step does.
func newOrder(id string, items ...item) store.NewOrder {
	o := store.Order{ID: id, BizCode: "retail", BuyerID: "buyer-1", OwnerOrg: "org-1", Channel: "app",
		Status: store.StatusPendingPayment, Currency: "CNY", PaymentMethod: "alipay",
		Shipping: `{"city":"杭州","line":"🚀 1 West Lake Rd"}`, Location: location}
	for _, it := range items {
		o.Lines = append(o.Lines, store.OrderLine{SKU: it.sku, Quantity: it.qty, ListPrice: 1000, UnitPrice: 900, LineTotal: 900 * it.qty})
		o.Subtotal += 1000 * it.qty
		o.Discount += 100 * it.qty
	}
	o.Total = o.Subtotal - o.Discount
	n := store.NewOrder{Order: o,
		History: store.OrderHistory{Event: "place", Actor: "buyer-1"},
		Events:  []store.OutboxEvent{{Topic: "order.created", Payload: fmt.Sprintf(`{"id":%q}`, id)}}}
	if len(items) > 0 {
		n.Steps = []store.Step{reserveStep(o)}
	}
	return n
}

// reserveStep reserves the stock of every line of o, at o.Location.
func reserveStep(o store.Order) store.Step {
	req := stock.ReserveRequest{OrderID: o.ID, Location: o.Location, Channel: o.Channel, BuyerID: o.BuyerID}
	for i, l := range o.Lines {
		req.Lines = append(req.Lines, stock.LineQty{LineNo: i + 1, SKU: l.SKU, Quantity: l.Quantity})
	}
	return func(ctx context.Context, tx *gorm.DB) error { return stock.Reserve(ctx, tx, req) }
}

// moveStep moves the stock of an order's reservation by kind.
func moveStep(orderID, kind string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error { return stock.Move(ctx, tx, orderID, kind) }
}

// moveSteps is a move step per kind, in order.
func moveSteps(orderID string, kinds ...string) []store.Step {
	var out []store.Step
	for _, k := range kinds {
		out = append(out, moveStep(orderID, k))
	}
	return out
}

// errBoom is the refusal of failStep.
var errBoom = errors.New("boom: a domain refused")

// failStep is a step that refuses.
func failStep() store.Step {
	return func(context.Context, *gorm.DB) error { return errBoom }
}

func mustCreate(t testing.TB, s *store.Store, n store.NewOrder) {
	t.Helper()
	if err := s.CreateOrder(t.Context(), n); err != nil {
		t.Fatalf("create order %s: %v", n.Order.ID, err)
	}
}

func mustTransition(t testing.TB, s *store.Store, tr store.Transition) store.Order {
	t.Helper()
	o, err := s.TransitionOrder(t.Context(), tr)
	if err != nil {
		t.Fatalf("transition order %s to %s: %v", tr.OrderID, tr.To, err)
	}
	return o
}

// seed sets the sellable stock of sku at location.
func seed(t testing.TB, s *store.Store, sku string, qty int64) {
	t.Helper()
	ctx := t.Context()
	err := s.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, sku, location, qty, "seed")
		return err
	})
	if err != nil {
		t.Fatalf("seed %s: %v", sku, err)
	}
}

type buckets struct{ sellable, reserved, frozen, shipped int64 }

func wantStock(t testing.TB, s *store.Store, sku string, want buckets) {
	t.Helper()
	levels, err := stock.Levels(t.Context(), s.DB(t.Context()), sku)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 1 || levels[0].Location != location {
		t.Fatalf("stock levels of %s: %+v, want one at %s", sku, levels, location)
	}
	l := levels[0]
	if got := (buckets{l.Sellable, l.Reserved, l.Frozen, l.Shipped}); got != want {
		t.Errorf("stock of %s = %+v, want %+v", sku, got, want)
	}
}

// stockState is every stock level and the number of ledger rows, without
// the times, to compare before and after an operation that must change
// nothing.
type stockState struct {
	Levels []stock.Level
	Ledger int64
}

func stockNow(t testing.TB, s *store.Store) stockState {
	t.Helper()
	ctx := t.Context()
	levels, err := stock.Levels(ctx, s.DB(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for i := range levels {
		levels[i].UpdatedAt = time.Time{}
		for j := range levels[i].Slots {
			levels[i].Slots[j].UpdatedAt = time.Time{}
		}
	}
	var n int64
	if err := s.DB(ctx).Model(&stock.LedgerEntry{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return stockState{levels, n}
}

// wantSound fails unless the stock agrees with its ledger.
func wantSound(t testing.TB, s *store.Store) {
	t.Helper()
	d, err := stock.Audit(t.Context(), s.DB(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		t.Errorf("stock audit: %s", x)
	}
}

// count counts the rows of a table that match where.
func count(t testing.TB, s *store.Store, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := s.DB(t.Context()).Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func wantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func pending(t testing.TB, s *store.Store) []store.OutboxEvent {
	t.Helper()
	evs, err := s.PendingEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func deepEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}
