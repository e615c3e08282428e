package order_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

var south = &extensions.Address{Region: "south", Line1: "2 Harbour Rd"}

// subFixture is the order service with three locations serving the south,
// each holding other SKUs: an order of kettle, mug and plate ships from
// three places. Identity "market" also splits lines by category through an
// order.split bizpack. limits are purchase limits of "retail".
func subFixture(t *testing.T, st *store.Store, limits ...kernel.PurchaseLimit) *order.Service {
	t.Helper()
	cat, reg, err := catalog.NewWith(catalog.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PutBizpack(kernel.Bizpack{Name: "splitter", Version: "1", Impls: []kernel.Implementation{
		order.Split.Impl("splitter.by-category", func(_ context.Context, req extensions.SplitRequest) (extensions.Split, error) {
			keys := make([]string, len(req.Lines))
			for i, l := range req.Lines {
				keys[i] = l.Category
			}
			return extensions.Split{Keys: keys}, nil
		})}}); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}, PurchaseLimits: limits},
		{Code: "market", Products: []kernel.ProductRef{{Name: "standard-retail"}}, Bizpacks: []kernel.BizpackRef{{Name: "splitter"}}},
		{Code: "b2b", Products: []kernel.ProductRef{{Name: "b2b-distribution"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, s := range []store.SKU{
		{SKU: "kettle", Title: "Kettle", Price: 2999, Currency: "CNY", Category: "kitchen", WeightGrams: 1200},
		{SKU: "mug", Title: "Mug", Price: 1299, Currency: "CNY", Category: "kitchen", WeightGrams: 300},
		{SKU: "plate", Title: "Plate", Price: 999, Currency: "CNY", Category: "table", WeightGrams: 500},
		{SKU: "spoon", Title: "Spoon", Price: 199, Currency: "CNY", Category: "table", WeightGrams: 50},
	} {
		if err := st.PutSKU(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	inTx(t, st, func(tx *gorm.DB) error {
		for _, l := range []stock.Location{{Name: "south-a", Regions: "south", Priority: 5}, {Name: "south-b", Regions: "south", Priority: 4},
			{Name: "south-c", Regions: "south", Priority: 3}} {
			if err := stock.PutLocation(ctx, tx, l); err != nil {
				return err
			}
		}
		for _, s := range []struct {
			sku, loc string
			n        int64
		}{{"kettle", "south-a", 100}, {"spoon", "south-a", 100}, {"mug", "south-b", 100}, {"plate", "south-c", 100}} {
			if _, err := stock.SetSellable(ctx, tx, s.sku, s.loc, s.n, "test"); err != nil {
				return err
			}
		}
		_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "CNY", 1_000_000)
		return err
	})
	return order.NewService(k, st)
}

var threeLines = order.PlaceRequest{BizCode: "retail", ShippingAddress: south,
	Items: []order.Item{{SKU: "kettle", Quantity: 1}, {SKU: "mug", Quantity: 2}, {SKU: "plate", Quantity: 1}}}

func card(key string) order.PayRequest {
	return order.PayRequest{Key: key, Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"}
}

// checkFamily fails unless the parent's money is the sum of its
// sub-orders', every sub-order names the parent and carries its shard.
func checkFamily(t *testing.T, p order.View) {
	t.Helper()
	var sum order.Amounts
	for _, k := range p.SubOrders {
		sum.Subtotal += k.Amounts.Subtotal
		sum.Discount += k.Amounts.Discount
		sum.Freight += k.Amounts.Freight
		sum.Total += k.Amounts.Total
		if !strings.HasPrefix(k.ID, p.ID+"-") {
			t.Fatalf("sub-order id %s does not extend the parent's %s", k.ID, p.ID)
		}
		ks, err := order.ShardOfID(k.ID)
		ps, _ := order.ShardOfID(p.ID)
		if err != nil || ks != ps {
			t.Fatalf("sub-order %s on shard %d, parent on %d (%v)", k.ID, ks, ps, err)
		}
	}
	sum.Currency = p.Amounts.Currency
	if sum != p.Amounts {
		t.Fatalf("sub-orders sum to %+v, parent has %+v", sum, p.Amounts)
	}
}

func balanceOf(t *testing.T, st *store.Store, id string) payment.Balance {
	t.Helper()
	b, err := payment.OrderBalance(t.Context(), st.DB(t.Context()), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSubOrdersPlacePayShipCancel(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		p, err := svc.Place(ctx, order.Buyer{ID: "alice"}, threeLines, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.SubOrders) != 3 || p.Location != "" || p.Status != lifecycle.PendingPayment || len(p.Items) != 3 || p.PaymentDeadline == nil {
			t.Fatalf("parent = %+v", p)
		}
		// 2.3 kg: 800 + 2×200 freight, shared by the sub-orders' net amounts.
		if p.Amounts.Freight != 1200 || p.Amounts.Total != 2999+2*1299+999+1200 {
			t.Fatalf("amounts = %+v", p.Amounts)
		}
		checkFamily(t, p)
		locs := []string{p.SubOrders[0].Location, p.SubOrders[1].Location, p.SubOrders[2].Location}
		if strings.Join(locs, ",") != "south-a,south-b,south-c" {
			t.Fatalf("locations = %v", locs)
		}
		kid, err := svc.Get(ctx, p.SubOrders[1].ID)
		if err != nil || kid.ParentID != p.ID || kid.Items[0].SKU != "mug" || len(kid.AvailableEvents) != 0 {
			t.Fatalf("sub-order = %+v, %v", kid, err)
		}
		if l := level(t, st, "mug", "south-b"); l.Reserved != 2 {
			t.Fatalf("mug = %+v", l)
		}

		// Before payment a sub-order takes no event and no payment.
		if _, err := svc.Fire(ctx, kid.ID, order.Event{Name: lifecycle.EventCancel, Actor: "alice"}); code(err) != order.CodeEventNotAllowed {
			t.Fatalf("cancel of an unpaid sub-order: %v", err)
		}
		if _, err := svc.Pay(ctx, kid.ID, card("k")); code(err) != order.CodeEventNotAllowed {
			t.Fatalf("pay of a sub-order: %v", err)
		}

		r, err := svc.Pay(ctx, p.ID, card("k"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Order.Status != order.StatusPaid || r.Payment.Amount != p.Amounts.Total {
			t.Fatalf("paid parent = %+v, payment %+v", r.Order, r.Payment)
		}
		for _, k := range r.Order.SubOrders {
			if k.Status != lifecycle.PendingOutbound {
				t.Fatalf("sub-order %s is %s after payment", k.ID, k.Status)
			}
		}
		if l := level(t, st, "mug", "south-b"); l.Frozen != 2 || l.Reserved != 0 {
			t.Fatalf("mug after payment = %+v", l)
		}

		// Sub-order 1 is cancelled: exactly its share is owed back.
		c, err := svc.Fire(ctx, p.SubOrders[0].ID, order.Event{Name: lifecycle.EventCancel, Actor: "alice"})
		if err != nil || c.Status != lifecycle.Cancelled || c.ParentID != p.ID {
			t.Fatalf("cancel = %+v, %v", c, err)
		}
		if b := balanceOf(t, st, p.ID); b.Captured != p.Amounts.Total || b.Refunded != p.SubOrders[0].Amounts.Total {
			t.Fatalf("balance after one cancellation = %+v, want refunded %d", b, p.SubOrders[0].Amounts.Total)
		}
		// Sub-order 2 ships and arrives; sub-order 3 fails outbound.
		if len(r.Order.SubOrders) != 3 {
			t.Fatalf("paid parent without its sub-orders: %+v", r.Order)
		}
		for _, ev := range []string{lifecycle.EventShip, lifecycle.EventReceive} {
			if _, err := svc.Fire(ctx, p.SubOrders[1].ID, order.Event{Name: ev, Actor: "ops"}); err != nil {
				t.Fatalf("%s: %v", ev, err)
			}
		}
		got, _ := svc.Get(ctx, p.ID)
		if got.Status != order.StatusPaid {
			t.Fatalf("parent with an open sub-order is %s", got.Status)
		}
		if _, err := svc.Fire(ctx, p.SubOrders[2].ID, order.Event{Name: lifecycle.EventOutboundFail, Actor: "ops"}); err != nil {
			t.Fatal(err)
		}
		got, _ = svc.Get(ctx, p.ID)
		if got.Status != lifecycle.Completed || len(got.AvailableEvents) != 0 {
			t.Fatalf("parent after every sub-order ended = %s %v", got.Status, got.AvailableEvents)
		}
		if _, err := svc.RecoverPayments(ctx, 100); err != nil {
			t.Fatal(err)
		}
		b := balanceOf(t, st, p.ID)
		if want := p.SubOrders[0].Amounts.Total + p.SubOrders[2].Amounts.Total; b.Refunded != want {
			t.Fatalf("refunded %d, want %d", b.Refunded, want)
		}
		money, err := order.AuditMoney(ctx, st.DB(ctx), time.Now())
		if err != nil || len(money.Problems) != 0 {
			t.Fatalf("money audit: %+v, %v", money, err)
		}
		audit(t, st)
	})
}

func TestSubOrdersListsAndNoSplit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		// One location ships both: no parent, exactly as before.
		single, err := svc.Place(ctx, order.Buyer{ID: "bob"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: south,
			Items: []order.Item{{SKU: "kettle", Quantity: 1}, {SKU: "spoon", Quantity: 1}}}, nil)
		if err != nil || single.Location != "south-a" || single.ParentID != "" || single.SubOrders != nil || strings.Contains(single.JSON(), "subOrders") {
			t.Fatalf("single = %+v, %v", single, err)
		}
		// The same lines at "market" split by category.
		byCat, err := svc.Place(ctx, order.Buyer{ID: "bob"}, order.PlaceRequest{BizCode: "market", ShippingAddress: south,
			Items: []order.Item{{SKU: "kettle", Quantity: 1}, {SKU: "spoon", Quantity: 1}}}, nil)
		if err != nil || len(byCat.SubOrders) != 2 || byCat.SubOrders[0].Location != "south-a" || byCat.SubOrders[1].Location != "south-a" {
			t.Fatalf("split by category = %+v, %v", byCat, err)
		}
		checkFamily(t, byCat)
		three, err := svc.Place(ctx, order.Buyer{ID: "bob"}, threeLines, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			q    order.Query
			want int
		}{
			{"everything", order.Query{BuyerID: "bob"}, 1 + 3 + 4},
			{"top level", order.Query{BuyerID: "bob", TopLevel: true}, 3},
			{"children of one parent", order.Query{ParentID: three.ID}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var ids []string
				q := tc.q
				q.Limit = 2
				for {
					page, err := svc.List(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range page.Orders {
						ids = append(ids, o.ID)
						if o.ID == three.ID && len(o.SubOrders) != 3 {
							t.Fatalf("listed parent without its sub-orders: %+v", o)
						}
					}
					if page.NextCursor == "" {
						break
					}
					q.Cursor = page.NextCursor
				}
				seen := map[string]bool{}
				for _, id := range ids {
					if seen[id] {
						t.Fatalf("%s listed twice: %v", id, ids)
					}
					seen[id] = true
				}
				if len(ids) != tc.want {
					t.Fatalf("listed %d orders, want %d: %v", len(ids), tc.want, ids)
				}
			})
		}
		// Cancelled before payment: the parent cancels every sub-order and
		// the stock comes back.
		c, err := svc.Fire(ctx, three.ID, order.Event{Name: lifecycle.EventCancel, Actor: "bob"})
		if err != nil || c.Status != lifecycle.Cancelled {
			t.Fatalf("cancel parent = %+v, %v", c, err)
		}
		for _, k := range c.SubOrders {
			if k.Status != lifecycle.Cancelled {
				t.Fatalf("sub-order %s is %s", k.ID, k.Status)
			}
		}
		if l := level(t, st, "plate", "south-c"); l.Reserved != 0 || l.Sellable != 100 {
			t.Fatalf("plate = %+v", l)
		}
		audit(t, st)
	})
}

// TestSubOrderCancellationRefundsSumToTheCharge is the acceptance bar:
// the sub-orders of paid parents are cancelled concurrently (and their
// parents cancelled at the same time); unpaid parents race their payment
// timeout against a cancellation. Every refund is exactly a sub-order's
// share, they sum to the charge, and stock comes back whole.
func TestSubOrderCancellationRefundsSumToTheCharge(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		const paid, unpaid = 6, 4
		var parents []order.View
		for i := range paid + unpaid {
			p, err := svc.Place(ctx, order.Buyer{ID: fmt.Sprintf("buyer-%d", i)}, threeLines, nil)
			if err != nil {
				t.Fatal(err)
			}
			if i < paid {
				if _, err := svc.Pay(ctx, p.ID, card("k")); err != nil {
					t.Fatal(err)
				}
			}
			parents = append(parents, p)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		try := func(f func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var oe *order.Error
				if err := f(); err != nil && !(errors.As(err, &oe) && (oe.Code == order.CodeEventNotAllowed || oe.Code == order.CodeVersionConflict)) {
					errs <- err
				}
			}()
		}
		for i, p := range parents {
			if i < paid {
				for _, k := range p.SubOrders {
					try(func() error {
						_, err := svc.Fire(ctx, k.ID, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
						return err
					})
				}
			} else {
				try(func() error { _, err := svc.TimeOut(ctx, p.ID, "system"); return err })
				try(func() error {
					_, err := svc.Fire(ctx, p.SubOrders[0].ID, order.Event{Name: lifecycle.EventCancel, Actor: "buyer"})
					return err
				})
			}
			try(func() error {
				_, err := svc.Fire(ctx, p.ID, order.Event{Name: lifecycle.EventCancel, Actor: "ops"})
				return err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for {
			s, err := svc.RecoverPayments(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if s == (payment.RecoverStats{}) {
				break
			}
		}
		for i, p := range parents {
			got, err := svc.Get(ctx, p.ID)
			if err != nil || got.Status != lifecycle.Cancelled {
				t.Fatalf("parent %s = %s, %v", p.ID, got.Status, err)
			}
			b := balanceOf(t, st, p.ID)
			want := int64(0)
			if i < paid {
				want = p.Amounts.Total
			}
			if b.Captured != want || b.Refunded != want {
				t.Fatalf("parent %d: captured %d refunded %d, want both %d", i, b.Captured, b.Refunded, want)
			}
			if i < paid {
				pays, err := svc.Payments(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				shares := map[int64]int{}
				for _, pay := range pays {
					if pay.Kind == payment.KindRefund {
						shares[pay.Amount]++
					}
				}
				for _, k := range p.SubOrders {
					if shares[k.Amounts.Total]--; shares[k.Amounts.Total] < 0 {
						t.Fatalf("parent %d: refunds %v are not the sub-orders' shares", i, pays)
					}
				}
			}
		}
		for _, sku := range []struct{ sku, loc string }{{"kettle", "south-a"}, {"mug", "south-b"}, {"plate", "south-c"}} {
			if l := level(t, st, sku.sku, sku.loc); l.Sellable != 100 || l.Reserved != 0 || l.Frozen != 0 {
				t.Fatalf("%s = %+v", sku.sku, l)
			}
		}
		money, err := order.AuditMoney(ctx, st.DB(ctx), time.Now())
		if err != nil || len(money.Problems) != 0 {
			t.Fatalf("money audit: %+v, %v", money, err)
		}
		audit(t, st)
		if got := reconcileFindings(t, st); len(got) != 0 {
			t.Fatalf("reconciliation after the race: %v", got)
		}
	})
}

// reconcileFindings runs a full reconciliation and returns its open
// mismatches as "check/issue/order".
func reconcileFindings(t *testing.T, st *store.Store) []string {
	t.Helper()
	r := reconcile.New(st, reconcile.Options{Node: "test"})
	if err := r.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(t.Context(), reconcile.KindFull, "test"); err != nil {
		t.Fatal(err)
	}
	ms, err := r.ListMismatches(t.Context(), reconcile.MismatchQuery{Status: "open", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Check+"/"+m.Issue+"/"+m.OrderID)
	}
	return out
}

// TestReconcileSubOrdersSumToTheirParent plants, behind the platform's
// back, each kind of disagreement between a parent and its sub-orders and
// expects the sub-order check to name it on the parent; a clean family
// (paid, one sub-order cancelled and refunded) reports nothing.
func TestReconcileSubOrdersSumToTheirParent(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		family := func(buyer string) order.View {
			p, err := svc.Place(ctx, order.Buyer{ID: buyer}, threeLines, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Pay(ctx, p.ID, card("k")); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Fire(ctx, p.SubOrders[0].ID, order.Event{Name: lifecycle.EventCancel, Actor: buyer}); err != nil {
				t.Fatal(err)
			}
			return p
		}
		fams := map[string]order.View{}
		for _, name := range []string{"clean", "count", "totals", "refund"} {
			fams[name] = family(name)
		}
		if _, err := svc.RecoverPayments(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if got := reconcileFindings(t, st); len(got) != 0 {
			t.Fatalf("a clean database: %v", got)
		}
		exec := func(q string, args ...any) {
			if err := st.DB(ctx).Exec(q, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
		exec("UPDATE tmf_orders SET sub_orders = 4 WHERE id = ?", fams["count"].ID)
		exec("UPDATE tmf_orders SET freight = freight + 1 WHERE id = ?", fams["totals"].SubOrders[2].ID)
		exec("UPDATE tmf_payments SET amount = amount - 1 WHERE order_id = ? AND kind = ?", fams["refund"].ID, payment.KindRefund)
		got := reconcileFindings(t, st)
		for _, want := range []string{
			"suborders/suborder_count/" + fams["count"].ID,
			"suborders/suborder_totals/" + fams["totals"].ID,
			"suborders/suborder_refund/" + fams["refund"].ID,
		} {
			if !slices.Contains(got, want) {
				t.Errorf("%s not found in %v", want, got)
			}
		}
		for _, g := range got {
			if strings.HasSuffix(g, fams["clean"].ID) {
				t.Errorf("the clean family was reported: %s", g)
			}
		}
	})
}

// TestSubOrdersOnAgentCredit: a b2b order on agent credit splits; the
// parent reserves the credit, paying captures it once, and a sub-order
// cancelled in review gives exactly its share back to the agent.
func TestSubOrdersOnAgentCredit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		req := threeLines
		req.BizCode = "b2b"
		p, err := svc.Place(ctx, order.Buyer{ID: "agent-1"}, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.SubOrders) != 3 || p.PaymentMethod != payment.MethodAgentCredit {
			t.Fatalf("parent = %+v", p)
		}
		acct := func() payment.AgentCredit {
			a, err := payment.CreditAccount(ctx, st.DB(ctx), "agent-1")
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		if a := acct(); a.Reserved != p.Amounts.Total {
			t.Fatalf("reserved %d, want %d", a.Reserved, p.Amounts.Total)
		}
		r, err := svc.Pay(ctx, p.ID, order.PayRequest{Key: "k", Actor: "agent-1"})
		if err != nil || r.Order.Status != order.StatusPaid || r.Payment.Amount != p.Amounts.Total {
			t.Fatalf("pay = %+v, %v", r, err)
		}
		if a := acct(); a.Reserved != 0 || a.Used != p.Amounts.Total {
			t.Fatalf("after payment: %+v", a)
		}
		if _, err := svc.Fire(ctx, p.SubOrders[1].ID, order.Event{Name: lifecycle.EventCancel, Actor: "agent-1"}); err != nil {
			t.Fatal(err)
		}
		if a := acct(); a.Used != p.Amounts.Total-p.SubOrders[1].Amounts.Total {
			t.Fatalf("after a sub-order's cancellation used %d, want %d", a.Used, p.Amounts.Total-p.SubOrders[1].Amounts.Total)
		}
		money, err := order.AuditMoney(ctx, st.DB(ctx), time.Now())
		if err != nil || len(money.Problems) != 0 {
			t.Fatalf("money audit: %+v, %v", money, err)
		}
		if got := reconcileFindings(t, st); len(got) != 0 {
			t.Fatalf("reconciliation: %v", got)
		}
		audit(t, st)
	})
}
