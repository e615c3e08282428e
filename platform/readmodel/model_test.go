package readmodel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
)

// snap is a synthetic snapshot of order id at a version.
func snap(id string, version, balanceAt int64, created time.Time) readmodel.Snapshot {
	return readmodel.Snapshot{Order: store.Order{ID: id, BizCode: "retail", BuyerID: "b-" + id, Status: fmt.Sprintf("s%d", version),
		Currency: "CNY", Total: 100 * version, Version: version, CreatedAt: created, UpdatedAt: created.Add(time.Duration(version) * time.Second),
		Lines: []store.OrderLine{{OrderID: id, LineNo: 1, SKU: "phone", Quantity: 1}}}, Paid: balanceAt, BalanceAt: balanceAt}
}

// Versions arriving out of order, duplicated and concurrently never leave
// an older state: the last write is the newest (version, balance) pair.
func TestUpsertNeverRegresses(t *testing.T) {
	m, _ := openModel(t)
	ctx := t.Context()
	created := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var all []readmodel.Snapshot
	for v := int64(1); v <= 6; v++ {
		for b := int64(0); b <= 2; b++ {
			all = append(all, snap("o-1", v, b, created))
		}
	}
	for round := range 5 {
		shuffled := slices.Clone(all)
		shuffled = append(shuffled, all...) // every state twice
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := w; i < len(shuffled); i += 6 {
					if _, err := m.Upsert(ctx, []readmodel.Snapshot{shuffled[i]}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		h, err := m.Get(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		if h.Order.Version != 6 || h.BalanceAt != 2 || h.Order.Status != "s6" || h.Paid != 2 {
			t.Fatalf("round %d: held v%d balance %d status %s paid %d; want v6 balance 2", round, h.Order.Version, h.BalanceAt, h.Order.Status, h.Paid)
		}
		// An older state written afterwards changes nothing.
		if n, err := m.Upsert(ctx, []readmodel.Snapshot{snap("o-1", 5, 9, created), snap("o-1", 6, 1, created)}); err != nil || n != 0 {
			t.Fatalf("older states: %d rows changed, %v; want 0", n, err)
		}
	}
	if _, err := m.Get(ctx, "o-none"); err != readmodel.ErrNotFound {
		t.Fatalf("get of an order not held: %v, want ErrNotFound", err)
	}
}

// Keyset paging is exact: every order once, in (created_at, id) order,
// however many share a creation time and whatever the page size.
func TestKeysetPagingWithTies(t *testing.T) {
	m, _ := openModel(t)
	ctx := t.Context()
	base := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var snaps []readmodel.Snapshot
	for i := range 157 {
		// Groups of up to 10 orders share a microsecond.
		snaps = append(snaps, snap(fmt.Sprintf("o-%03d", (i*37)%157), 1, 0, base.Add(time.Duration(i/10)*time.Microsecond)))
	}
	if _, err := m.Upsert(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(snaps)
	slices.SortFunc(want, func(a, b readmodel.Snapshot) int {
		if c := a.Order.CreatedAt.Compare(b.Order.CreatedAt); c != 0 {
			return c
		}
		return cmpString(a.Order.ID, b.Order.ID)
	})
	for _, size := range []int{1, 3, 10, 11, 50, 157, 1000} {
		var got []string
		q := readmodel.Query{Limit: size}
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatalf("page size %d: no end", size)
			}
			page, err := m.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range page {
				got = append(got, h.Order.ID)
			}
			if len(page) < size {
				break
			}
			last := page[len(page)-1].Order
			q.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		var wantIDs []string
		for _, s := range want {
			wantIDs = append(wantIDs, s.Order.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("page size %d: got %d ids %v…, want %d", size, len(got), got[:min(5, len(got))], len(wantIDs))
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// seed places orders of every fixture buyer, moves some of them, and
// brings the read model up to date by a rebuild.
func seed(t *testing.T, f fixture, m *readmodel.Model, n int) []order.View {
	t.Helper()
	var out []order.View
	for i := range n {
		items := []order.Item{{SKU: "case", Quantity: int64(1 + i%3)}}
		if i%4 == 0 {
			items = append(items, order.Item{SKU: "phone", Quantity: 1})
		}
		v := f.place(t, i, items...)
		switch i % 5 {
		case 1:
			var err error
			if v, err = f.svc.Fire(t.Context(), v.ID, order.Event{Name: "cancel", Actor: v.BuyerID}); err != nil {
				t.Fatal(err)
			}
		case 2:
			var err error
			if v, err = f.svc.Fire(t.Context(), v.ID, order.Event{Name: "pay", Actor: v.BuyerID}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, v)
	}
	if _, err := readmodel.Rebuild(t.Context(), m, readmodel.StoreSource{Store: f.st}, readmodel.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// accessOf is the policy's filter in the store's terms (as the API makes it).
func accessOf(f authz.Filter) *store.Access {
	a := &store.Access{All: f.All}
	for _, conj := range f.Any {
		conds := make([]store.Cond, len(conj))
		for i, c := range conj {
			conds[i] = store.Cond{Field: c.Field, Op: string(c.Op), Values: c.Values}
		}
		a.Any = append(a.Any, conds)
	}
	return a
}

// The permission filter of the shipped policy gives the same orders from
// the read model as from the store, for every kind of subject, and for
// hand-written filters of every field and op.
func TestAccessFilterSameAsStore(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	seed(t, f, m, 40)
	policy, err := authz.New(t.Context(), authz.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    *authz.Principal
		acc  *store.Access
	}{
		{name: "admin", p: &authz.Principal{ID: "root", Roles: []string{"admin"}}},
		{name: "buyer", p: &authz.Principal{ID: "alice", Roles: []string{"buyer"}}},
		{name: "agent of a region", p: &authz.Principal{ID: "agent-east", Roles: []string{"agent"}, OrgPath: "/hq/east/"}},
		{name: "agent of a store", p: &authz.Principal{ID: "agent-sh01", Roles: []string{"agent"}, OrgPath: "/hq/east/sh-01/"}},
		{name: "agent of hq", p: &authz.Principal{ID: "agent-hq", Roles: []string{"agent"}, OrgPath: "/hq/"}},
		{name: "agent without a node", p: &authz.Principal{ID: "dave", Roles: []string{"agent"}}},
		{name: "operator of retail.vip", p: &authz.Principal{ID: "op", Roles: []string{"operator"}, Identities: []string{"retail.vip"}}},
		{name: "operator of all", p: &authz.Principal{ID: "op", Roles: []string{"operator"}, Identities: []string{"*"}}},
		{name: "no role", p: &authz.Principal{ID: "x"}},
		{name: "owner_path eq", acc: &store.Access{Any: [][]store.Cond{{{Field: "owner_path", Op: "eq", Values: []string{"/hq/east/"}}}}}},
		{name: "owner_path in", acc: &store.Access{Any: [][]store.Cond{{{Field: "owner_path", Op: "in", Values: []string{"/hq/west/bj-01/", "/hq/east/sh-02/"}}}}}},
		{name: "owner_path prefix without slash", acc: &store.Access{Any: [][]store.Cond{{{Field: "owner_path", Op: "prefix", Values: []string{"/hq/east/sh"}}}}}},
		{name: "biz_code prefix", acc: &store.Access{Any: [][]store.Cond{{{Field: "biz_code", Op: "prefix", Values: []string{"retail.v"}}}}}},
		{name: "owner_org in or buyer", acc: &store.Access{Any: [][]store.Cond{{{Field: "owner_org", Op: "in", Values: []string{"bj-01"}}},
			{{Field: "buyer_id", Op: "eq", Values: []string{"erin"}}}}}},
		{name: "conjunction", acc: &store.Access{Any: [][]store.Cond{{{Field: "owner_path", Op: "prefix", Values: []string{"/hq/"}},
			{Field: "biz_code", Op: "eq", Values: []string{"retail"}}}}}},
		{name: "empty conjunction", acc: &store.Access{Any: [][]store.Cond{{}}}},
		{name: "nothing", acc: &store.Access{}},
	}
	ctx := t.Context()
	seen := map[string]int{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc := tc.acc
			if tc.p != nil {
				flt, err := policy.Filter(ctx, *tc.p, "order.list")
				if err != nil {
					t.Fatal(err)
				}
				acc = accessOf(flt)
			}
			for _, size := range []int{7, 100} {
				want := storeIDs(t, f.st, acc, size)
				got := modelIDs(t, m, acc, size)
				if !slices.Equal(got, want) {
					t.Fatalf("page size %d: read model %d orders %v, store %d %v", size, len(got), got, len(want), want)
				}
				seen[tc.name] = len(want)
			}
		})
	}
	// The subjects see different, non-trivial sets: the comparison means something.
	if all, east, sh := seen["admin"], seen["agent of a region"], seen["agent of a store"]; !(all == 40 && east > sh && sh > 0 && east < all) {
		t.Fatalf("admin sees %d, the east agent %d, the sh-01 agent %d: want 40 > east > sh-01 > 0", all, east, sh)
	}
	// A filter the store cannot express, the read model cannot either.
	for _, bad := range []store.Cond{{Field: "color", Op: "eq", Values: []string{"x"}}, {Field: "owner_path", Op: "prefix", Values: []string{"/hq/%"}},
		{Field: "buyer_id", Op: "like", Values: []string{"a"}}, {Field: "buyer_id", Op: "eq", Values: []string{"a", "b"}}} {
		acc := &store.Access{Any: [][]store.Cond{{bad}}}
		if _, err := m.List(ctx, readmodel.Query{Access: acc}); err == nil {
			t.Errorf("%+v: read model listed; want ErrInvalid", bad)
		}
		if _, err := f.st.ListOrders(ctx, store.OrderQuery{Access: acc}); err == nil {
			t.Errorf("%+v: store listed", bad)
		}
	}
}

func storeIDs(t *testing.T, st *store.Store, acc *store.Access, size int) []string {
	t.Helper()
	out := []string{}
	q := store.OrderQuery{Access: acc, Limit: size}
	for {
		page, err := st.ListOrders(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			out = append(out, o.ID)
		}
		if len(page) < size {
			return out
		}
		c := page[len(page)-1].Cursor()
		q.After = &c
	}
}

func modelIDs(t *testing.T, m *readmodel.Model, acc *store.Access, size int) []string {
	t.Helper()
	out := []string{}
	q := readmodel.Query{Access: acc, Limit: size}
	for {
		page, err := m.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			out = append(out, h.Order.ID)
		}
		if len(page) < size {
			return out
		}
		last := page[len(page)-1].Order
		q.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// Each search filter keeps exactly the orders it describes (checked
// against the orders themselves).
func TestSearchFilters(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	placed := seed(t, f, m, 30)
	mid := placed[15].CreatedAt
	ptr := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		q    readmodel.Query
		keep func(v order.View) bool
	}{
		{"statuses", readmodel.Query{Statuses: []string{"cancelled", "pending_outbound"}},
			func(v order.View) bool { return v.Status == "cancelled" || v.Status == "pending_outbound" }},
		{"identity", readmodel.Query{BizCode: "retail.vip"}, func(v order.View) bool { return v.BizCode == "retail.vip" }},
		{"buyer", readmodel.Query{BuyerID: "bob"}, func(v order.View) bool { return v.BuyerID == "bob" }},
		{"org subtree", readmodel.Query{OrgSubtree: "east"},
			func(v order.View) bool { return slices.Contains([]string{"east", "sh-01", "sh-02"}, v.OwnerOrg) }},
		{"created range", readmodel.Query{CreatedFrom: &placed[5].CreatedAt, CreatedTo: &mid},
			func(v order.View) bool { return !v.CreatedAt.Before(placed[5].CreatedAt) && v.CreatedAt.Before(mid) }},
		{"amount range", readmodel.Query{TotalMin: ptr(2000), TotalMax: ptr(100000)},
			func(v order.View) bool { return v.Amounts.Total >= 2000 && v.Amounts.Total <= 100000 }},
		{"sku", readmodel.Query{SKU: "phone"}, func(v order.View) bool {
			return slices.ContainsFunc(v.Items, func(l order.LineView) bool { return l.SKU == "phone" })
		}},
		{"recipient text", readmodel.Query{Recipient: "carol wa"}, func(v order.View) bool { return v.BuyerID == "carol" }},
		{"address text", readmodel.Query{Address: "112 nanjing"}, func(v order.View) bool { return v.ShippingAddress.Line1 == "112 Nanjing Road" }},
		{"wildcards are text", readmodel.Query{Recipient: "%"}, func(order.View) bool { return false }},
		{"combined", readmodel.Query{Statuses: []string{"pending_payment"}, OrgSubtree: "hq", SKU: "case"}, func(v order.View) bool {
			return v.Status == "pending_payment" && v.OwnerOrg != ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, v := range placed {
				if tc.keep(v) {
					want = append(want, v.ID)
				}
			}
			page, err := m.List(t.Context(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range page {
				got = append(got, h.Order.ID)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d %v, want %d %v", len(got), got, len(want), want)
			}
			if len(want) == 0 && tc.name != "wildcards are text" {
				t.Fatal("the filter keeps no order of the fixture: the test would not fail")
			}
		})
	}
}
