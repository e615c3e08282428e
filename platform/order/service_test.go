package order_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// serviceFixture is the order service over a real store, with identities
// for the three built-in products and a bizpack that breaks pricing.adjust's
// contract on purpose.
func serviceFixture(t *testing.T, st *store.Store) *order.Service {
	t.Helper()
	svc, _ := serviceFixtureWith(t, st)
	return svc
}

// serviceFixtureWith also returns the promotion book the kernel reads.
func serviceFixtureWith(t *testing.T, st *store.Store) (*order.Service, *promotion.Book) {
	t.Helper()
	k, book := kernelFixture(t, st)
	return order.NewService(k, st, order.WithPromotions(book)), book
}

// kernelFixture is the kernel of the order tests (retail, virtual, b2b and
// a rogue identity) and its promotion book, with the catalogue, stock and
// an agent's credit line written to st.
func kernelFixture(t *testing.T, st *store.Store) (*kernel.Kernel, *promotion.Book) {
	t.Helper()
	book := promotion.NewBook(nil)
	cat, reg, err := catalog.NewWith(catalog.Sources{Promotions: book})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PutBizpack(kernel.Bizpack{Name: "rogue", Version: "1", Impls: []kernel.Implementation{
		pricing.Adjust.Impl("rogue.adjust", func(_ context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
			s.Lines = append(slices.Clone(s.Lines), extensions.Line{SKU: "free-gift", Quantity: 1})
			return s, nil
		})}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.PutBizpack(kernel.Bizpack{Name: "recorder", Version: "1", Impls: []kernel.Implementation{
		delivery.Required.Impl("recorder.required", func(_ context.Context, req extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
			if req.Shipping != nil {
				a := *req.Shipping
				seenShipping.Store(&a)
			}
			return extensions.DeliveryRequirement{}, extensions.ErrSkip
		})}}); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}},
		// Returns close two days after delivery, for retail.quick.kid too.
		{Code: "retail.quick", ReturnWindow: kernel.Duration(48 * time.Hour)},
		{Code: "retail.quick.kid"},
		{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}}},
		{Code: "b2b", Products: []kernel.ProductRef{{Name: "b2b-distribution"}}},
		{Code: "rogue", Bizpacks: []kernel.BizpackRef{{Name: "rogue"}}},
		{Code: "recorded", Products: []kernel.ProductRef{{Name: "standard-retail"}}, Bizpacks: []kernel.BizpackRef{{Name: "recorder"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, s := range []store.SKU{
		{SKU: "phone", Title: "Phone", Price: 100000, Currency: "CNY", Category: "phone", WeightGrams: 1500},
		{SKU: "case", Title: "Case", Price: 999, Currency: "CNY", Category: "accessory", WeightGrams: 100},
		{SKU: "usd-phone", Title: "Phone (US)", Price: 50000, Currency: "USD", Category: "phone"},
		{SKU: "topup", Title: "Top-up", Price: 5000, Currency: "CNY", Category: "topup", Virtual: true},
	} {
		if err := st.PutSKU(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	inTx(t, st, func(tx *gorm.DB) error {
		for _, l := range []stock.Location{{Name: "east", Regions: "east", Priority: 5}, {Name: "west", Regions: "west", Priority: 5}} {
			if err := stock.PutLocation(ctx, tx, l); err != nil {
				return err
			}
		}
		for _, s := range []struct {
			sku, loc string
			n        int64
		}{{"phone", "east", 2}, {"phone", "west", 5}, {"case", "east", 50}, {"usd-phone", "east", 5}, {"topup", "virtual", 100}} {
			if _, err := stock.SetSellable(ctx, tx, s.sku, s.loc, s.n, "test"); err != nil {
				return err
			}
		}
		_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "CNY", 1_000_000)
		return err
	})
	return k, book
}

// inTx runs fn in one store transaction or fails the test.
func inTx(t *testing.T, st *store.Store, fn func(tx *gorm.DB) error) {
	t.Helper()
	if err := st.Tx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// level is the stock of sku at loc (zero when there is none).
func level(t *testing.T, st *store.Store, sku, loc string) stock.Level {
	t.Helper()
	ls, err := stock.Levels(t.Context(), st.DB(t.Context()), sku)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Location == loc {
			return l
		}
	}
	return stock.Level{}
}

// audit fails the test unless every stock slot agrees with its ledger.
func audit(t *testing.T, st *store.Store) {
	t.Helper()
	if d, err := stock.Audit(t.Context(), st.DB(t.Context())); err != nil || len(d) != 0 {
		t.Fatalf("audit: %v, %v", d, err)
	}
}

var east = &extensions.Address{Region: "east", Line1: "1 Bund"}

func TestPlaceRefusals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := serviceFixture(t, st)
		for _, tc := range []struct {
			name string
			req  order.PlaceRequest
			code string
		}{
			{"no items", order.PlaceRequest{BizCode: "retail"}, order.CodeInvalid},
			{"zero quantity", order.PlaceRequest{BizCode: "retail", Items: []order.Item{{SKU: "case", Quantity: 0}}}, order.CodeInvalid},
			{"two items of one SKU", order.PlaceRequest{BizCode: "retail", Items: []order.Item{{SKU: "case", Quantity: 1}, {SKU: "case", Quantity: 1}}}, order.CodeInvalid},
			{"unknown SKUs", order.PlaceRequest{BizCode: "retail", Items: []order.Item{{SKU: "nope", Quantity: 1}, {SKU: "nada", Quantity: 1}}}, order.CodeSKUNotFound},
			{"two currencies", order.PlaceRequest{BizCode: "retail", ShippingAddress: east, Items: []order.Item{{SKU: "phone", Quantity: 1}, {SKU: "usd-phone", Quantity: 1}}}, order.CodeMixedCurrency},
			{"unknown identity", order.PlaceRequest{BizCode: "nope", Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodeIdentity},
			{"validator veto", order.PlaceRequest{BizCode: "retail", Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodeRejected},
			{"physical goods at the virtual identity", order.PlaceRequest{BizCode: "virtual", Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodeRejected},
			{"payment method not offered", order.PlaceRequest{BizCode: "retail", ShippingAddress: east, PaymentMethod: "bitcoin", Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodePaymentUnavailable},
			{"no location holds enough", order.PlaceRequest{BizCode: "retail", ShippingAddress: east, Items: []order.Item{{SKU: "phone", Quantity: 6}}}, order.CodeOutOfStock},
			{"no location ships to the region", order.PlaceRequest{BizCode: "retail", ShippingAddress: &extensions.Address{Region: "north"}, Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodeRegionNotServed},
			{"ships but no address (no validator for it at b2b)", order.PlaceRequest{BizCode: "b2b", Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodeAddressRequired},
			{"pricing.adjust broke its contract", order.PlaceRequest{BizCode: "rogue", ShippingAddress: east, Items: []order.Item{{SKU: "case", Quantity: 1}}}, order.CodePricing},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := svc.Place(t.Context(), order.Buyer{ID: "alice"}, tc.req, nil)
				var oe *order.Error
				if !errors.As(err, &oe) || oe.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
			})
		}
		page, err := svc.List(t.Context(), order.Query{Limit: 10})
		if err != nil || len(page.Orders) != 0 {
			t.Fatalf("refused orders were written: %+v, %v", page, err)
		}
		audit(t, st)
	})
}

func TestPlaceAndWalkARetailOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := serviceFixture(t, st)
		ctx := t.Context()
		// 1.5 kg + 0.2 kg = 1.7 kg: first kg 800 + one started extra kg 200.
		v, err := svc.Place(ctx, order.Buyer{ID: "alice", OwnerOrg: "east"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
			Items: []order.Item{{SKU: "phone", Quantity: 1}, {SKU: "case", Quantity: 2}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := order.Amounts{Subtotal: 100000 + 2*999, Discount: 0, Freight: 0, Total: 101998, Currency: "CNY"}
		if v.Amounts != want {
			// Retail's freight is free above 99.00; this order is above it.
			t.Fatalf("amounts %+v, want %+v", v.Amounts, want)
		}
		if v.Status != lifecycle.PendingPayment || v.Location != "east" || v.PaymentMethod != "card" || v.Version != 1 || v.OwnerOrg != "east" ||
			!slices.Equal(v.AvailableEvents, []string{"cancel", "pay", "payment_fail", "payment_timeout"}) || v.PaymentDeadline == nil {
			t.Fatalf("view %+v", v)
		}
		if l := level(t, st, "phone", "east"); l.Sellable != 1 || l.Reserved != 1 {
			t.Fatalf("phone at east after placing: %+v", l)
		}
		// List passes the caller's access filter down to the store.
		buyerIs := func(id string) *store.Access {
			return &store.Access{Any: [][]store.Cond{{{Field: "buyer_id", Op: store.OpEq, Values: []string{id}}}}}
		}
		for _, tc := range []struct {
			name   string
			access *store.Access
			want   int
		}{
			{"unrestricted", nil, 1},
			{"all", &store.Access{All: true}, 1},
			{"nothing", &store.Access{}, 0},
			{"own orders", buyerIs("alice"), 1},
			{"another buyer's", buyerIs("bob"), 0},
		} {
			page, err := svc.List(ctx, order.Query{Limit: 10, Access: tc.access})
			if err != nil || len(page.Orders) != tc.want || (tc.want == 1 && page.Orders[0].OwnerOrg != "east") {
				t.Fatalf("list with access %s: %+v, %v; want %d orders", tc.name, page.Orders, err, tc.want)
			}
		}
		if _, err := svc.List(ctx, order.Query{Limit: 10, Access: &store.Access{Any: [][]store.Cond{{{Field: "total", Op: store.OpEq, Values: []string{"1"}}}}}}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("list with an access filter on an unknown field: %v, want ErrInvalid", err)
		}
		paid, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k1", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"})
		if err != nil || paid.Order.Status != lifecycle.PendingOutbound || paid.Payment.State != payment.StateSucceeded ||
			paid.Payment.Amount != v.Amounts.Total {
			t.Fatalf("pay: %+v, %v", paid, err)
		}
		if l := level(t, st, "phone", "east"); l.Sellable != 1 || l.Frozen != 1 || l.Reserved != 0 {
			t.Fatalf("after paying: %+v", l)
		}
		for _, step := range []struct {
			event, status string
			phone         stock.Level
		}{
			{"ship", lifecycle.PendingInbound, stock.Level{Sellable: 1, Shipped: 1}},
			{"receive", lifecycle.Completed, stock.Level{Sellable: 1, Shipped: 1}},
		} {
			v, err = svc.Fire(ctx, v.ID, order.Event{Name: step.event, Actor: "ops"})
			if err != nil || v.Status != step.status {
				t.Fatalf("%s: %+v, %v", step.event, v, err)
			}
			l := level(t, st, "phone", "east")
			if l.Sellable != step.phone.Sellable || l.Reserved != step.phone.Reserved || l.Frozen != step.phone.Frozen || l.Shipped != step.phone.Shipped {
				t.Fatalf("after %s: %+v", step.event, l)
			}
		}
		_, err = svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: "alice"})
		var oe *order.Error
		if !errors.As(err, &oe) || oe.Code != order.CodeEventNotAllowed {
			t.Fatalf("cancel after completion: %v", err)
		}
		trace, err := svc.Trace(ctx, v.ID)
		if err != nil || len(trace) == 0 {
			t.Fatalf("trace: %v, %v", trace, err)
		}
		hist, _ := st.OrderHistory(ctx, v.ID)
		if len(hist) != 4 {
			t.Fatalf("history: %+v", hist)
		}
		audit(t, st)
	})
}

func TestCancelReleasesAndB2BReviewIsGuarded(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := serviceFixture(t, st)
		ctx := t.Context()
		agent := order.Buyer{ID: "agent-1", Attrs: map[string]string{"agentLevel": "1"}}
		v, err := svc.Place(ctx, agent, order.PlaceRequest{BizCode: "b2b", ShippingAddress: east, Items: []order.Item{{SKU: "case", Quantity: 10}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Items[0].UnitPrice != 899 || v.PaymentMethod != "agent_credit" { // 999 × 90% = 899.1 → 899
			t.Fatalf("tier price %+v", v)
		}
		before, _ := payment.CreditAccount(ctx, st.DB(ctx), "agent-1")
		if before.Reserved != v.Amounts.Total {
			t.Fatalf("credit after placing: %+v, want %d reserved", before, v.Amounts.Total)
		}
		paid, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "credit-1", Actor: "agent-1"})
		if err != nil || paid.Order.Status != lifecycle.PendingReview || paid.Payment.Method != payment.MethodAgentCredit {
			t.Fatalf("pay: %+v, %v", paid, err)
		}
		v = paid.Order
		if acc, _ := payment.CreditAccount(ctx, st.DB(ctx), "agent-1"); acc.Reserved != 0 || acc.Used != v.Amounts.Total {
			t.Fatalf("credit after paying: %+v", acc)
		}
		_, err = svc.Fire(ctx, v.ID, order.Event{Name: "approve", Actor: "agent-1", Data: map[string]string{"reviewer": "agent-1"}})
		var oe *order.Error
		if !errors.As(err, &oe) || oe.Code != order.CodeVetoed || oe.Fields["reason"] != "self_review" {
			t.Fatalf("self review: %v", err)
		}
		if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "reject", Actor: "ops", Data: map[string]string{"reviewer": "ops"}}); err != nil || v.Status != lifecycle.Rejected {
			t.Fatalf("reject: %+v, %v", v, err)
		}
		// A rejected paid order gives its frozen stock back, and the credit.
		if l := level(t, st, "case", "east"); l.Sellable != 50 || l.Frozen != 0 {
			t.Fatalf("stock after rejection: %+v", l)
		}
		if acc, _ := payment.CreditAccount(ctx, st.DB(ctx), "agent-1"); acc.Used != 0 || acc.Available != acc.CreditLimit {
			t.Fatalf("credit after rejection: %+v", acc)
		}
		// An unpaid cancel releases the reservation.
		v, err = svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual", Items: []order.Item{{SKU: "topup", Quantity: 3}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: "alice"}); err != nil || v.Status != lifecycle.Cancelled {
			t.Fatalf("cancel: %+v, %v", v, err)
		}
		if l := level(t, st, "topup", "virtual"); l.Sellable != 100 || l.Reserved != 0 {
			t.Fatalf("stock after cancel: %+v", l)
		}
		audit(t, st)
	})
}

func extensionsAddress(region string) extensions.Address {
	return extensions.Address{Region: region, Line1: "1 Main St"}
}

// seenShipping is the last address the recorder bizpack saw at delivery.required.
var seenShipping atomic.Pointer[extensions.Address]

// The whole shipping address, recipient included, is kept on the order and
// reaches the delivery points (and so the bizpacks bound there).
func TestShippingAddressReachesDeliveryAndTheOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := serviceFixture(t, st)
		addr := extensions.Address{Region: "east", Line1: "1 Bund", Line2: "Floor 12, Room 1203", City: "Shanghai", Postal: "200002",
			Country: "CN", Name: "Li Lei", Phone: "+86 21 5555-0100"}
		v, err := svc.Place(t.Context(), order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "recorded", ShippingAddress: &addr,
			Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := seenShipping.Load(); got == nil || *got != addr {
			t.Fatalf("delivery.required saw %+v; want %+v", got, addr)
		}
		if v.ShippingAddress == nil || *v.ShippingAddress != addr {
			t.Fatalf("placed with %+v", v.ShippingAddress)
		}
		got, err := svc.Get(t.Context(), v.ID)
		if err != nil || got.ShippingAddress == nil || *got.ShippingAddress != addr {
			t.Fatalf("read back %+v, %v", got.ShippingAddress, err)
		}
	})
}
