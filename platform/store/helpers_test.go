package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

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

func reserve(sku string, qty int64) store.Reservation {
	return store.Reservation{SKU: sku, Location: "wh1", Quantity: qty}
}

// newOrder is an order with one line, one history step and one outbox event
// per reservation.
func newOrder(id string, rs ...store.Reservation) store.NewOrder {
	o := store.Order{ID: id, BizCode: "retail", BuyerID: "buyer-1", OwnerPath: "/0/1/", Channel: "app",
		Status: store.StatusPendingPayment, Currency: "CNY", PaymentMethod: "alipay",
		Shipping: `{"city":"杭州","line":"🚀 1 West Lake Rd"}`, Location: "wh1"}
	for _, r := range rs {
		o.Lines = append(o.Lines, store.OrderLine{SKU: r.SKU, Quantity: r.Quantity, ListPrice: 1000, UnitPrice: 900, LineTotal: 900 * r.Quantity})
		o.Subtotal += 1000 * r.Quantity
		o.Discount += 100 * r.Quantity
	}
	o.Total = o.Subtotal - o.Discount
	return store.NewOrder{Order: o, Reservations: rs,
		History: store.OrderHistory{Event: "place", Actor: "buyer-1"},
		Events:  []store.OutboxEvent{{Topic: "order.created", Payload: fmt.Sprintf(`{"id":%q}`, id)}}}
}

func mustCreate(t testing.TB, s *store.Store, n store.NewOrder) {
	t.Helper()
	if err := s.CreateOrder(t.Context(), n); err != nil {
		t.Fatalf("create order %s: %v", n.Order.ID, err)
	}
}

func seed(t testing.TB, s *store.Store, sku string, qty int64) {
	t.Helper()
	if _, err := s.SetSellable(t.Context(), sku, "wh1", qty, "seed"); err != nil {
		t.Fatalf("seed %s: %v", sku, err)
	}
}

type buckets struct{ sellable, reserved, frozen, shipped int64 }

func wantStock(t testing.TB, s *store.Store, sku string, want buckets) {
	t.Helper()
	levels, err := s.StockLevels(t.Context(), sku)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 1 {
		t.Fatalf("stock levels of %s: %+v, want one", sku, levels)
	}
	l := levels[0]
	if got := (buckets{l.Sellable, l.Reserved, l.Frozen, l.Shipped}); got != want {
		t.Errorf("stock of %s = %+v, want %+v", sku, got, want)
	}
}

// wantSound fails unless the stock agrees with its ledger.
func wantSound(t testing.TB, s *store.Store) {
	t.Helper()
	d, err := s.AuditStock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		t.Errorf("stock audit: %s", x)
	}
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
