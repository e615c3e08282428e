package order_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/domains/pricing"
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
	cat, reg, err := catalog.New()
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
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}},
		{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}}},
		{Code: "b2b", Products: []kernel.ProductRef{{Name: "b2b-distribution"}}},
		{Code: "rogue", Bizpacks: []kernel.BizpackRef{{Name: "rogue"}}},
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
	for _, l := range []store.Location{{Name: "east", Regions: "east", Priority: 5}, {Name: "west", Regions: "west", Priority: 5}} {
		if err := st.PutLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		sku, loc string
		n        int64
	}{{"phone", "east", 2}, {"phone", "west", 5}, {"case", "east", 50}, {"usd-phone", "east", 5}, {"topup", "virtual", 100}} {
		if _, err := st.SetSellable(ctx, s.sku, s.loc, s.n, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return order.NewService(k, st)
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
		if d, err := st.AuditStock(t.Context()); err != nil || len(d) != 0 {
			t.Fatalf("audit: %v, %v", d, err)
		}
	})
}

func TestPlaceAndWalkARetailOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := serviceFixture(t, st)
		ctx := t.Context()
		// 1.5 kg + 0.2 kg = 1.7 kg: first kg 800 + one started extra kg 200.
		v, err := svc.Place(ctx, order.Buyer{ID: "alice", OwnerPath: "/hq/east"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
			Items: []order.Item{{SKU: "phone", Quantity: 1}, {SKU: "case", Quantity: 2}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := order.Amounts{Subtotal: 100000 + 2*999, Discount: 0, Freight: 0, Total: 101998, Currency: "CNY"}
		if v.Amounts != want {
			// Retail's freight is free above 99.00; this order is above it.
			t.Fatalf("amounts %+v, want %+v", v.Amounts, want)
		}
		if v.Status != lifecycle.PendingPayment || v.Location != "east" || v.PaymentMethod != "card" || v.Version != 1 ||
			!slices.Equal(v.AvailableEvents, []string{"cancel", "pay", "payment_fail", "payment_timeout"}) || v.PaymentDeadline == nil {
			t.Fatalf("view %+v", v)
		}
		level := func(sku, loc string) store.StockLevel {
			ls, _ := st.StockLevels(ctx, sku)
			for _, l := range ls {
				if l.Location == loc {
					return l
				}
			}
			return store.StockLevel{}
		}
		if l := level("phone", "east"); l.Sellable != 1 || l.Reserved != 1 {
			t.Fatalf("phone at east after placing: %+v", l)
		}
		for _, step := range []struct {
			event, status string
			phone         store.StockLevel
		}{
			{"pay", lifecycle.PendingOutbound, store.StockLevel{Sellable: 1, Frozen: 1}},
			{"ship", lifecycle.PendingInbound, store.StockLevel{Sellable: 1, Shipped: 1}},
			{"receive", lifecycle.Completed, store.StockLevel{Sellable: 1, Shipped: 1}},
		} {
			v, err = svc.Fire(ctx, v.ID, order.Event{Name: step.event, Actor: "ops"})
			if err != nil || v.Status != step.status {
				t.Fatalf("%s: %+v, %v", step.event, v, err)
			}
			l := level("phone", "east")
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
		if d, err := st.AuditStock(ctx); err != nil || len(d) != 0 {
			t.Fatalf("audit: %v, %v", d, err)
		}
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
		if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "pay", Actor: "agent-1"}); err != nil || v.Status != lifecycle.PendingReview {
			t.Fatalf("pay: %+v, %v", v, err)
		}
		_, err = svc.Fire(ctx, v.ID, order.Event{Name: "approve", Actor: "agent-1", Data: map[string]string{"reviewer": "agent-1"}})
		var oe *order.Error
		if !errors.As(err, &oe) || oe.Code != order.CodeVetoed || oe.Fields["reason"] != "self_review" {
			t.Fatalf("self review: %v", err)
		}
		if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "reject", Actor: "ops", Data: map[string]string{"reviewer": "ops"}}); err != nil || v.Status != lifecycle.Rejected {
			t.Fatalf("reject: %+v, %v", v, err)
		}
		// A rejected paid order gives its frozen stock back.
		ls, _ := st.StockLevels(ctx, "case")
		if ls[0].Sellable != 50 || ls[0].Frozen != 0 {
			t.Fatalf("stock after rejection: %+v", ls)
		}
		// An unpaid cancel releases the reservation.
		v, err = svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual", Items: []order.Item{{SKU: "topup", Quantity: 3}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: "alice"}); err != nil || v.Status != lifecycle.Cancelled {
			t.Fatalf("cancel: %+v, %v", v, err)
		}
		ls, _ = st.StockLevels(ctx, "topup")
		if ls[0].Sellable != 100 || ls[0].Reserved != 0 {
			t.Fatalf("stock after cancel: %+v", ls)
		}
		if d, err := st.AuditStock(ctx); err != nil || len(d) != 0 {
			t.Fatalf("audit: %v, %v", d, err)
		}
	})
}
