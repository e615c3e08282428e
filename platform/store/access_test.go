package store_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// cond and any are shorthands for access filters.
func cond(field, op string, values ...string) store.Cond {
	return store.Cond{Field: field, Op: op, Values: values}
}

func anyOf(conjs ...[]store.Cond) *store.Access { return &store.Access{Any: conjs} }

func all(conds ...store.Cond) []store.Cond { return conds }

// listIDs pages through ListOrders with q (its Limit is the page size) and
// returns the ids in listing order.
func listIDs(t testing.TB, s *store.Store, q store.OrderQuery) ([]string, error) {
	t.Helper()
	ids := []string{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListOrders(t.Context(), q)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			ids = append(ids, o.ID)
		}
		if len(page) < max(q.Limit, 1) {
			return ids, nil
		}
		c := page[len(page)-1].Cursor()
		q.After = &c
	}
}

func TestAccessFilterCases(t *testing.T) {
	t.Parallel()
	orders := []struct{ id, buyer, biz, owner string }{
		{"o-1", "alice", "retail", "east"},
		{"o-2", "Alice", "virtual.topup", "sh-01"},
		{"o-3", "al_ice", "b2b_x", "west"},
		{"o-4", "bob", "b2bax", ""},
		{"o-5", "bob", "retail", "other"},
		{"o-6", "carol", "retail", "east-2"},
	}
	hundred := []string{"o-1"}
	for i := range 99 {
		hundred = append(hundred, fmt.Sprint("x-", i))
	}
	cases := []struct {
		name   string
		query  store.OrderQuery
		access *store.Access
		want   []string
	}{
		{"unrestricted", store.OrderQuery{}, nil, []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}},
		{"nothing", store.OrderQuery{}, &store.Access{}, []string{}},
		{"all", store.OrderQuery{}, &store.Access{All: true}, []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}},
		{"all wins over any condition", store.OrderQuery{},
			&store.Access{All: true, Any: [][]store.Cond{{cond("nope", "eq", "x")}}}, []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}},
		{"an empty conjunction holds", store.OrderQuery{}, anyOf(all()), []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}},
		{"a subtree", store.OrderQuery{}, anyOf(all(cond("owner_path", "prefix", "/hq/east/"))), []string{"o-1", "o-2"}},
		{"a wider subtree", store.OrderQuery{}, anyOf(all(cond("owner_path", "prefix", "/hq/"))), []string{"o-1", "o-2", "o-3", "o-6"}},
		{"a string prefix, not a subtree", store.OrderQuery{}, anyOf(all(cond("owner_path", "prefix", "/hq/east"))),
			[]string{"o-1", "o-2", "o-6"}},
		{"every owned order", store.OrderQuery{}, anyOf(all(cond("owner_path", "prefix", "/"))),
			[]string{"o-1", "o-2", "o-3", "o-5", "o-6"}},
		{"one node", store.OrderQuery{}, anyOf(all(cond("owner_path", "eq", "/hq/east/"))), []string{"o-1"}},
		{"a path that is no node", store.OrderQuery{}, anyOf(all(cond("owner_path", "eq", "/hq/east"))), []string{}},
		{"some nodes", store.OrderQuery{}, anyOf(all(cond("owner_path", "in", "/hq/west/", "/other/", "/nope/"))), []string{"o-3", "o-5"}},
		{"a buyer", store.OrderQuery{}, anyOf(all(cond("buyer_id", "eq", "bob"))), []string{"o-4", "o-5"}},
		{"a buyer prefix is case-sensitive", store.OrderQuery{}, anyOf(all(cond("buyer_id", "prefix", "al"))), []string{"o-1", "o-3"}},
		{"_ in a prefix is no wildcard", store.OrderQuery{}, anyOf(all(cond("buyer_id", "prefix", "al_"))), []string{"o-3"}},
		{"_ in a biz prefix is no wildcard", store.OrderQuery{}, anyOf(all(cond("biz_code", "prefix", "b2b_"))), []string{"o-3"}},
		{"% in a prefix is no wildcard", store.OrderQuery{}, anyOf(all(cond("biz_code", "prefix", "re%"))), []string{}},
		{"the escape character is plain", store.OrderQuery{}, anyOf(all(cond("biz_code", "prefix", "re!"))), []string{}},
		{"an identity and its children", store.OrderQuery{}, anyOf(all(cond("biz_code", "prefix", "virtual"))), []string{"o-2"}},
		{"quotes are values", store.OrderQuery{}, anyOf(all(cond("buyer_id", "eq", "x' OR '1'='1"))), []string{}},
		{"ids", store.OrderQuery{}, anyOf(all(cond("id", "in", "o-6", "o-2", "o-9"))), []string{"o-2", "o-6"}},
		{"100 values", store.OrderQuery{}, anyOf(all(cond("id", "in", hundred...))), []string{"o-1"}},
		{"an id prefix", store.OrderQuery{}, anyOf(all(cond("id", "prefix", "o-"))), []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}},
		{"a conjunction", store.OrderQuery{}, anyOf(all(cond("owner_path", "prefix", "/hq/"), cond("biz_code", "eq", "retail"))),
			[]string{"o-1", "o-6"}},
		{"a disjunction of conjunctions", store.OrderQuery{}, anyOf(
			all(cond("buyer_id", "eq", "bob")),
			all(cond("owner_path", "prefix", "/hq/east/"), cond("biz_code", "eq", "virtual.topup")),
		), []string{"o-2", "o-4", "o-5"}},
		{"with the query's own filter", store.OrderQuery{BuyerID: "bob"}, anyOf(all(cond("owner_path", "prefix", "/"))), []string{"o-5"}},
		{"with the query's biz filter", store.OrderQuery{BizCode: "retail"},
			anyOf(all(cond("owner_path", "prefix", "/hq/")), all(cond("buyer_id", "eq", "bob"))), []string{"o-1", "o-5", "o-6"}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		mustCreateOrgs(t, s, sampleTree...)
		for _, o := range orders {
			n := newOrder(o.id)
			n.Order.BuyerID, n.Order.BizCode, n.Order.OwnerOrg = o.buyer, o.biz, o.owner
			mustCreate(t, s, n)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, limit := range []int{1, 2, 100} {
					q := tc.query
					q.Limit, q.Access = limit, tc.access
					got, err := listIDs(t, s, q)
					if err != nil {
						t.Fatal(err)
					}
					deepEqual(t, fmt.Sprintf("orders by pages of %d", limit), got, tc.want)
				}
			})
		}
	})
}

func TestAccessFilterRefusals(t *testing.T) {
	t.Parallel()
	var tooMany []string
	for i := range store.MaxAccessValues + 1 {
		tooMany = append(tooMany, fmt.Sprint("o-", i))
	}
	cases := []struct {
		name string
		cond store.Cond
	}{
		{"unknown field", cond("total", "eq", "1")},
		{"field in another case", cond("Buyer_ID", "eq", "bob")},
		{"unknown op", cond("buyer_id", "like", "b%")},
		{"no op", cond("buyer_id", "", "bob")},
		{"eq of two values", cond("buyer_id", "eq", "a", "b")},
		{"eq of none", cond("buyer_id", "eq")},
		{"prefix of two values", cond("owner_path", "prefix", "/a/", "/b/")},
		{"in of none", cond("id", "in")},
		{"in of 101 values", cond("id", "in", tooMany...)},
		{"owner_path in of 101 values", cond("owner_path", "in", tooMany...)},
		{"% in a path", cond("owner_path", "prefix", "/hq/%")},
		{"_ in a path", cond("owner_path", "prefix", "/hq/_")},
		{`\ in a path`, cond("owner_path", "prefix", `/hq\`)},
		{"wildcard in an eq path", cond("owner_path", "eq", "/hq/%/")},
		{"wildcard in one of in", cond("owner_path", "in", "/hq/", "/%/")},
		{"empty path", cond("owner_path", "prefix", "")},
		{"upper case in a path", cond("owner_path", "prefix", "/HQ/")},
		{"quote in a path", cond("owner_path", "eq", "/hq/'")},
		{"path over 1024 bytes", cond("owner_path", "prefix", "/"+strings.Repeat("a", 1024))},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		mustCreateOrgs(t, s, sampleTree...)
		n := newOrder("o-1")
		n.Order.OwnerOrg = "east"
		mustCreate(t, s, n)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// Alone, and as the second conjunction behind one that holds.
				for _, a := range []*store.Access{
					anyOf(all(tc.cond)),
					anyOf(all(cond("buyer_id", "eq", "buyer-1")), all(cond("owner_path", "prefix", "/"), tc.cond)),
				} {
					got, err := s.ListOrders(t.Context(), store.OrderQuery{Access: a})
					wantErrIs(t, err, store.ErrInvalid)
					if got != nil {
						t.Errorf("refused filter returned orders: %+v", got)
					}
				}
			})
		}
	})
}

// accessWorld is a generated tree with orders owned at random nodes, and
// what the filters must return computed in Go from it.
type accessWorld struct {
	parent map[string]string
	paths  map[string]string
	ids    []string // org ids
	orders []store.Order
}

// repath recomputes every path from the parents.
func (w *accessWorld) repath() {
	w.paths = map[string]string{}
	var pathOf func(id string) string
	pathOf = func(id string) string {
		if p, ok := w.paths[id]; ok {
			return p
		}
		p := "/" + id + "/"
		if w.parent[id] != "" {
			p = pathOf(w.parent[id]) + id + "/"
		}
		w.paths[id] = p
		return p
	}
	for _, id := range w.ids {
		pathOf(id)
	}
}

func (w *accessWorld) field(o store.Order, field string) (string, bool) {
	switch field {
	case "id":
		return o.ID, true
	case "buyer_id":
		return o.BuyerID, true
	case "biz_code":
		return o.BizCode, true
	case "owner_path":
		return w.paths[o.OwnerOrg], o.OwnerOrg != ""
	}
	panic(field)
}

func (w *accessWorld) holds(c store.Cond, o store.Order) bool {
	v, ok := w.field(o, c.Field)
	if !ok {
		return false
	}
	switch c.Op {
	case store.OpEq:
		return v == c.Values[0]
	case store.OpPrefix:
		return strings.HasPrefix(v, c.Values[0])
	case store.OpIn:
		return slices.Contains(c.Values, v)
	}
	panic(c.Op)
}

// expect lists, in listing order, the ids of the orders q lets through.
func (w *accessWorld) expect(q store.OrderQuery) []string {
	out := []string{}
	for _, o := range w.orders {
		if q.BuyerID != "" && o.BuyerID != q.BuyerID || q.BizCode != "" && o.BizCode != q.BizCode {
			continue
		}
		if a := q.Access; a != nil && !a.All && !slices.ContainsFunc(a.Any, func(conj []store.Cond) bool {
			return !slices.ContainsFunc(conj, func(c store.Cond) bool { return !w.holds(c, o) })
		}) {
			continue
		}
		out = append(out, o.ID)
	}
	return out
}

var (
	worldBuyers = []string{"alice", "Alice", "al_ice", "bob", "bobby", "carol", "dave"}
	worldBiz    = []string{"retail", "virtual", "virtual.topup", "virtual.topup.mobile", "b2b", "b2b_x", "b2bax"}
)

func (w *accessWorld) randomCond(rnd *rand.Rand) store.Cond {
	path := func() string { return w.paths[w.ids[rnd.IntN(len(w.ids))]] }
	switch rnd.IntN(10) {
	case 0, 1, 2:
		p := path()
		if rnd.IntN(4) == 0 { // a string prefix: "/n1" also matches /n10/, /n123/
			p = p[:1+rnd.IntN(len(p)-1)]
		}
		return cond("owner_path", "prefix", p)
	case 3:
		return cond("owner_path", "eq", path())
	case 4:
		vals := []string{"/nope/"}
		for range 1 + rnd.IntN(5) {
			vals = append(vals, path())
		}
		return cond("owner_path", "in", vals...)
	case 5:
		b := worldBuyers[rnd.IntN(len(worldBuyers))]
		switch rnd.IntN(3) {
		case 0:
			return cond("buyer_id", "eq", b)
		case 1:
			return cond("buyer_id", "prefix", b[:1+rnd.IntN(len(b))])
		}
		return cond("buyer_id", "in", b, worldBuyers[rnd.IntN(len(worldBuyers))])
	case 6:
		b := worldBiz[rnd.IntN(len(worldBiz))]
		if rnd.IntN(2) == 0 {
			return cond("biz_code", "eq", b)
		}
		return cond("biz_code", "prefix", b[:1+rnd.IntN(len(b))])
	case 7:
		var ids []string
		for range 1 + rnd.IntN(30) {
			ids = append(ids, w.orders[rnd.IntN(len(w.orders))].ID)
		}
		return cond("id", "in", ids...)
	case 8:
		return cond("id", "prefix", fmt.Sprintf("o-%d", rnd.IntN(12)))
	}
	return cond("id", "eq", w.orders[rnd.IntN(len(w.orders))].ID)
}

func (w *accessWorld) randomQuery(rnd *rand.Rand) store.OrderQuery {
	q := store.OrderQuery{Access: &store.Access{}}
	for range 1 + rnd.IntN(3) {
		var conj []store.Cond
		for range 1 + rnd.IntN(3) {
			conj = append(conj, w.randomCond(rnd))
		}
		q.Access.Any = append(q.Access.Any, conj)
	}
	switch rnd.IntN(8) {
	case 0:
		q.BuyerID = worldBuyers[rnd.IntN(len(worldBuyers))]
	case 1:
		q.BizCode = worldBiz[rnd.IntN(len(worldBiz))]
	}
	return q
}

// newAccessWorld writes a random tree of nodes (a few roots) and orders
// owned at random nodes (some by none), many sharing a creation time.
func newAccessWorld(t *testing.T, s *store.Store, rnd *rand.Rand, nodes, orders int) *accessWorld {
	t.Helper()
	ctx := t.Context()
	w := &accessWorld{parent: map[string]string{}}
	for i := range nodes {
		id := fmt.Sprintf("n%d", i)
		w.ids = append(w.ids, id)
		if i >= 4 {
			// Prefer recent parents a little, for some depth.
			w.parent[id] = w.ids[i-1-min(rnd.IntN(i), rnd.IntN(i))]
		}
	}
	w.repath()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rows := make([]store.Org, 0, nodes)
	for _, id := range w.ids {
		rows = append(rows, store.Org{ID: id, Parent: w.parent[id], Path: w.paths[id], CreatedAt: now, UpdatedAt: now})
	}
	if err := s.DB(ctx).CreateInBatches(rows, 500).Error; err != nil {
		t.Fatal(err)
	}
	wantTreeSound(t, s)
	for i := range orders {
		o := store.Order{ID: fmt.Sprintf("o-%d", i), BuyerID: worldBuyers[rnd.IntN(len(worldBuyers))],
			BizCode: worldBiz[rnd.IntN(len(worldBiz))], Status: store.StatusPendingPayment, Currency: "CNY", Version: 1,
			CreatedAt: now.Add(time.Duration(rnd.IntN(orders/4)) * time.Second), UpdatedAt: now}
		if rnd.IntN(20) > 0 {
			o.OwnerOrg = w.ids[rnd.IntN(len(w.ids))]
		}
		w.orders = append(w.orders, o)
	}
	if err := s.DB(ctx).CreateInBatches(w.orders, 500).Error; err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(w.orders, func(a, b store.Order) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return w
}

// orderRows is what a move of the tree must not touch: every order's row.
func orderRows(t *testing.T, s *store.Store) []store.Order {
	t.Helper()
	var out []store.Order
	if err := s.DB(t.Context()).Order("id").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// Random filters over a generated tree of a few thousand nodes return,
// page after page, exactly the orders computed in Go from the tree; after a
// subtree moves, the same filters follow it without any order being
// rewritten.
func TestAccessFilterFollowsTheTree(t *testing.T) {
	t.Parallel()
	const nodes, orders, queries = 3000, 1000, 40
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect)
		ctx := t.Context()
		rnd := rand.New(rand.NewPCG(uint64(len(dialect)), 6))
		w := newAccessWorld(t, s, rnd, nodes, orders)

		var qs []store.OrderQuery
		for range queries {
			qs = append(qs, w.randomQuery(rnd))
		}
		// Pick a subtree of some size to move, and a new parent outside it.
		var mover, target string
		for _, id := range w.ids[4:] {
			size := 0
			for _, p := range w.paths {
				if strings.HasPrefix(p, w.paths[id]) {
					size++
				}
			}
			if size >= 20 && size <= nodes/10 {
				mover = id
				break
			}
		}
		if mover == "" {
			t.Fatal("no subtree of 20 to 300 nodes in the generated tree")
		}
		for target == "" || strings.HasPrefix(w.paths[target], w.paths[mover]) || target == w.parent[mover] {
			target = w.ids[rnd.IntN(len(w.ids))]
		}
		// Filters naming the subtree's place before and after the move.
		oldPlace := anyOf(all(cond("owner_path", "prefix", w.paths[mover])))
		newPlace := anyOf(all(cond("owner_path", "prefix", w.paths[target]+mover+"/")))
		qs = append(qs, store.OrderQuery{Access: oldPlace}, store.OrderQuery{Access: newPlace},
			store.OrderQuery{Access: anyOf(all(cond("owner_path", "prefix", w.paths[target])))})

		check := func(when string) (nonEmpty int) {
			for i, q := range qs {
				q.Limit = 10 + rnd.IntN(70)
				want := w.expect(q)
				got, err := listIDs(t, s, q)
				if err != nil {
					t.Fatalf("%s, query %d %+v: %v", when, i, q.Access, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s, query %d (buyer %q, biz %q, %+v) by pages of %d:\n got  %d orders %v\n want %d orders %v",
						when, i, q.BuyerID, q.BizCode, q.Access.Any, q.Limit, len(got), got, len(want), want)
				}
				if len(want) > 0 {
					nonEmpty++
				}
			}
			return nonEmpty
		}
		if n := check("before the move"); n < len(qs)/3 {
			t.Errorf("only %d of %d filters match any order: the test tests little", n, len(qs))
		}
		subtreeOrders := len(w.expect(store.OrderQuery{Access: oldPlace}))
		if subtreeOrders == 0 {
			t.Fatalf("the subtree of %s owns no order", mover)
		}

		before := orderRows(t, s)
		if _, err := s.MoveOrg(ctx, mover, target); err != nil {
			t.Fatal(err)
		}
		w.parent[mover] = target
		w.repath()
		wantTreeSound(t, s)
		deepEqual(t, "orders after the move", orderRows(t, s), before)
		if n := len(w.expect(store.OrderQuery{Access: newPlace})); n != subtreeOrders {
			t.Fatalf("the test's tree: %d orders at the new place, want %d", n, subtreeOrders)
		}
		if n := len(w.expect(store.OrderQuery{Access: oldPlace})); n != 0 {
			t.Fatalf("the test's tree: %d orders left at the old place", n)
		}
		check("after the move")
		t.Logf("%s: moved %s (%d orders) under %s", dialect, mover, subtreeOrders, target)
	})
}

// A subtree once found large is listed without reading the tree first
// (one statement fewer a page), and exactly all the same after it has
// shrunk: the path join it keeps reads the tree as it is.
func TestListUnderASubtreeThatShrank(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect)
		ctx := t.Context()
		for _, o := range []store.Org{{ID: "hq"}, {ID: "big", Parent: "hq"}, {ID: "elsewhere", Parent: "hq"}} {
			if _, err := s.CreateOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		const stores = 70 // more than a small subtree
		var orders []store.Order
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range stores {
			id := fmt.Sprintf("s-%02d", i)
			if _, err := s.CreateOrg(ctx, store.Org{ID: id, Parent: "big"}); err != nil {
				t.Fatal(err)
			}
			at = at.Add(time.Second)
			orders = append(orders, store.Order{ID: "o-" + id, BizCode: "retail", BuyerID: "b", OwnerOrg: id, Status: "created",
				Currency: "CNY", Shipping: "{}", Version: 1, CreatedAt: at, UpdatedAt: at})
		}
		orders = append(orders, store.Order{ID: "o-outside", BizCode: "retail", BuyerID: "b", OwnerOrg: "elsewhere",
			Status: "created", Currency: "CNY", Shipping: "{}", Version: 1, CreatedAt: at, UpdatedAt: at})
		if err := s.DB(ctx).Create(&orders).Error; err != nil {
			t.Fatal(err)
		}
		q := store.OrderQuery{Access: anyOf(all(cond("owner_path", "prefix", "/hq/big/"))), Limit: 1000}
		list := func(wantStatements int) []string {
			t.Helper()
			cctx, count := store.CountStatements(ctx)
			page, err := s.ListOrders(cctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if n := count.Statements(); n != wantStatements {
				t.Errorf("%d statements, want %d", n, wantStatements)
			}
			ids := make([]string, len(page))
			for i, o := range page {
				ids[i] = o.ID
			}
			return ids
		}
		// The first list reads the tree (large: kept as a path join), the
		// orders and their lines; the second no longer reads the tree.
		if got := list(3); len(got) != stores || slices.Contains(got, "o-outside") {
			t.Fatalf("first list: %d orders %v", len(got), got)
		}
		if got := list(2); len(got) != stores {
			t.Fatalf("second list: %d orders", len(got))
		}
		// Move all but three stores out: the subtree is small now, and the
		// list still follows the tree exactly.
		for i := 3; i < stores; i++ {
			if _, err := s.MoveOrg(ctx, fmt.Sprintf("s-%02d", i), "elsewhere"); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := list(2), []string{"o-s-00", "o-s-01", "o-s-02"}; !slices.Equal(got, want) {
			t.Fatalf("after the move: %v, want %v", got, want)
		}
	})
}
