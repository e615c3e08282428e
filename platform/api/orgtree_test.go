package api_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Access to orders over an organisation tree of more than 10,000 nodes,
// checked through the API against what the tree says: single reads, paged
// lists, refused events, and a subtree moved under another region.

// treeSize is how big the generated world is.
type treeSize struct {
	minNodes, orders, pairs, listers, eventPairs int
}

// worldSize is the world on every database. Under the race detector the
// pure-Go SQLite driver is slow: this keeps the test near 20 s there.
var worldSize = treeSize{minNodes: 10_000, orders: 2000, pairs: 300, listers: 30, eventPairs: 100}

// worldBizCodes are identities of testConfig, whose lifecycles the orders
// follow; operators are granted some of them.
var worldBizCodes = []string{"retail", "retail.vip", "b2b", "virtual.topup", "domestic"}

// worldStatuses are states in which "receive" does not apply (it applies in
// pending_inbound only), so that firing it moves nothing; the virtual-goods
// lifecycle has no pending_outbound.
var worldStatuses = []string{"pending_payment", "pending_payment", "pending_outbound", "completed", "cancelled"}

// statusFor picks a state of the identity's lifecycle.
func statusFor(rnd *rand.Rand, biz string) string {
	for {
		s := pickFrom(rnd, worldStatuses)
		if s != "pending_outbound" || biz != "virtual.topup" {
			return s
		}
	}
}

// worldPrincipal is a caller of the generated world.
type worldPrincipal struct {
	id, token, org string
	roles          []string
	identities     []string
}

func (p worldPrincipal) has(role string) bool { return slices.Contains(p.roles, role) }

// worldOrder is what the test knows of an order.
type worldOrder struct {
	id, buyer, owner, biz string
	createdAt             time.Time
}

// orgWorld is the generated tree, its principals and orders, and the
// oracle that says who may see what.
type orgWorld struct {
	ids      []string // parents before children
	parent   map[string]string
	kind     map[string]string
	paths    map[string]string
	byKind   map[string][]string
	regions  []string
	people   []worldPrincipal
	byID     map[string]worldPrincipal
	orders   []worldOrder
	orderIdx map[string]worldOrder
}

// add records a node under parent ("" for the root).
func (w *orgWorld) add(id, parent, kind string) {
	w.ids = append(w.ids, id)
	w.parent[id], w.kind[id] = parent, kind
	w.paths[id] = w.paths[parent] + id + "/"
	if parent == "" {
		w.paths[id] = "/" + id + "/"
	}
	w.byKind[kind] = append(w.byKind[kind], id)
}

// genTree builds HQ → regions → tier-1 agents → tier-2 agents → stores with
// random fan-out, adding regions until the tree has at least minNodes.
func genTree(rnd *rand.Rand, minNodes int) *orgWorld {
	w := &orgWorld{parent: map[string]string{}, kind: map[string]string{}, paths: map[string]string{},
		byKind: map[string][]string{}, byID: map[string]worldPrincipal{}, orderIdx: map[string]worldOrder{}}
	w.add("hq", "", "hq")
	var t1, t2, st int
	for r := 1; len(w.ids) < minNodes; r++ {
		region := fmt.Sprintf("r%d", r)
		w.add(region, "hq", "region")
		w.regions = append(w.regions, region)
		for range 4 + rnd.IntN(9) {
			t1++
			a := fmt.Sprintf("a%d", t1)
			w.add(a, region, "agent1")
			for range 3 + rnd.IntN(7) {
				t2++
				b := fmt.Sprintf("b%d", t2)
				w.add(b, a, "agent2")
				for range 5 + rnd.IntN(11) {
					st++
					w.add(fmt.Sprintf("s%d", st), b, "store")
				}
			}
		}
	}
	return w
}

// sees is the oracle: may p see o, by the tree and the grants (the shipped
// policy's rules).
func (w *orgWorld) sees(p worldPrincipal, o worldOrder) bool {
	switch {
	case p.has("admin"):
		return true
	case o.buyer == p.id:
		return true
	case p.has("operator") && (slices.Contains(p.identities, "*") || slices.Contains(p.identities, o.biz)):
		return true
	case p.has("agent") && p.org != "" && o.owner != "":
		return strings.HasPrefix(w.paths[o.owner], w.paths[p.org])
	}
	return false
}

// visible is every order p may see, in list order (createdAt, id).
func (w *orgWorld) visible(p worldPrincipal) []string {
	var out []string
	for _, o := range w.orders {
		if w.sees(p, o) {
			out = append(out, o.id)
		}
	}
	return out
}

// sortOrders puts the orders in the API's list order.
func (w *orgWorld) sortOrders() {
	slices.SortFunc(w.orders, func(a, b worldOrder) int {
		return cmp.Or(a.createdAt.Compare(b.createdAt), strings.Compare(a.id, b.id))
	})
}

// move moves node id under parent in the oracle's tree.
func (w *orgWorld) move(id, parent string) {
	old, now := w.paths[id], w.paths[parent]+id+"/"
	for n, p := range w.paths {
		if strings.HasPrefix(p, old) {
			w.paths[n] = now + p[len(old):]
		}
	}
	w.parent[id] = parent
}

// subtree is every node under id, id included.
func (w *orgWorld) subtree(id string) map[string]bool {
	out := map[string]bool{}
	for n, p := range w.paths {
		if strings.HasPrefix(p, w.paths[id]) {
			out[n] = true
		}
	}
	return out
}

func pickFrom[T any](rnd *rand.Rand, s []T) T { return s[rnd.IntN(len(s))] }

// buildWorld generates the world and writes it into the server's store:
// the tree partly through the admin API, partly through Store.CreateOrg,
// mostly in batches; a few principals through the API, the others through
// the store; a few orders placed through the API, the others inserted
// through the store (some with Store.CreateOrder, most in batches).
func buildWorld(t *testing.T, e *env, rnd *rand.Rand, size treeSize) *orgWorld {
	t.Helper()
	ctx := t.Context()
	w := genTree(rnd, size.minNodes)
	// The top of the first region through the admin API, the subtree of its
	// first tier-1 node through Store.CreateOrg, the rest in batches (paths
	// computed here; CheckOrgTree then holds the whole tree to its rules).
	// Batches keep the test fast under the race detector, which slows the
	// pure-Go SQLite driver down a great deal.
	viaAPI := map[string]bool{"hq": true, w.regions[0]: true}
	for _, id := range w.ids {
		if viaAPI[w.parent[id]] && w.kind[id] == "agent1" {
			viaAPI[id] = true
		}
	}
	viaStore := "/hq/" + w.regions[0] + "/a1/"
	now := time.Now().UTC().Truncate(time.Millisecond)
	var rows []store.Org
	for _, id := range w.ids {
		switch {
		case viaAPI[id]:
			if v := newOrgNode(e, id, w.parent[id]); v.Path != w.paths[id] {
				t.Fatalf("org %s: path %s, want %s", id, v.Path, w.paths[id])
			}
		case strings.HasPrefix(w.paths[id], viaStore):
			o, err := e.st.CreateOrg(ctx, store.Org{ID: id, Parent: w.parent[id], Kind: w.kind[id]})
			if err != nil {
				t.Fatal(err)
			}
			if o.Path != w.paths[id] {
				t.Fatalf("org %s: path %s, want %s", id, o.Path, w.paths[id])
			}
		default:
			rows = append(rows, store.Org{ID: id, Parent: w.parent[id], Path: w.paths[id], Kind: w.kind[id], CreatedAt: now, UpdatedAt: now})
		}
	}
	if err := e.st.DB(ctx).CreateInBatches(rows, 25).Error; err != nil {
		t.Fatal(err)
	}
	if problems, err := e.st.CheckOrgTree(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("the generated tree: %v %v", problems, err)
	}

	// Principals: an agent in every region, agents at random tier-1 and
	// tier-2 nodes and a few stores, buyers at random stores, operators with
	// random grants, some buyer-agents.
	var specs []worldPrincipal
	for _, r := range w.regions {
		specs = append(specs, worldPrincipal{id: "agent-" + r, org: r, roles: []string{"agent"}})
	}
	specs = append(specs, worldPrincipal{id: "agent-hq", org: "hq", roles: []string{"agent"}})
	for i := range 40 {
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("agent1-%d", i), org: pickFrom(rnd, w.byKind["agent1"]), roles: []string{"agent"}})
	}
	for i := range 50 {
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("agent2-%d", i), org: pickFrom(rnd, w.byKind["agent2"]), roles: []string{"agent"}})
	}
	for i := range 10 {
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("agent-s%d", i), org: pickFrom(rnd, w.byKind["store"]), roles: []string{"agent"}})
	}
	for i := range 160 {
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("buyer-%d", i), org: pickFrom(rnd, w.byKind["store"]), roles: []string{"buyer"}})
	}
	for i := range 12 {
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("dual-%d", i), org: pickFrom(rnd, w.byKind["agent2"]),
			roles: []string{"buyer", "agent"}})
	}
	for i := range 20 {
		var grants []string
		if rnd.IntN(6) == 0 {
			grants = []string{"*"}
		} else {
			for _, j := range rnd.Perm(len(worldBizCodes))[:1+rnd.IntN(2)] {
				grants = append(grants, worldBizCodes[j])
			}
		}
		specs = append(specs, worldPrincipal{id: fmt.Sprintf("ops-%d", i), roles: []string{"operator"}, identities: grants})
	}
	specs = append(specs, worldPrincipal{id: "root", token: adminToken, roles: []string{"admin"}})
	for i, p := range specs {
		switch {
		case p.id == "root":
		case i%50 == 0:
			p.token = newPrincipalAt(e, p.id, p.org, p.identities, p.roles...)
		default:
			p.token = "tok-" + p.id
			if err := e.st.CreatePrincipal(ctx, store.Principal{ID: p.id, Roles: strings.Join(p.roles, ","), Org: p.org,
				Identities: strings.Join(p.identities, ","), TokenHash: api.TokenHash(p.token)}); err != nil {
				t.Fatal(err)
			}
		}
		w.people = append(w.people, p)
		w.byID[p.id] = p
	}

	// Orders, by buyers and agents: mostly owned where their buyer is, some
	// at a random node (a buyer who has moved since).
	var placers []worldPrincipal
	for _, p := range w.people {
		if p.has("buyer") || p.has("agent") {
			placers = append(placers, p)
		}
	}
	e.sku("mug", 1200, "kitchen", false, 100_000)
	for i := range 12 {
		p := pickFrom(rnd, placers)
		r := e.do("POST", "/v1/orders", p.token, retailBody("mug", 1), "Idempotency-Key", fmt.Sprintf("tree-%d", i))
		expect(t, r, 201, "")
		v := decodeView(t, r)
		if v.OwnerOrg != p.org || v.BuyerID != p.id {
			t.Fatalf("%s (org %s) placed an order owned by %q for %q", p.id, p.org, v.OwnerOrg, v.BuyerID)
		}
		w.orders = append(w.orders, worldOrder{id: v.ID, buyer: p.id, owner: v.OwnerOrg, biz: v.BizCode, createdAt: v.CreatedAt})
	}
	// The others through the store: some with CreateOrder (order, line and
	// history in one transaction), most in batches.
	base := now.Truncate(time.Second).Add(-time.Hour)
	var heads []store.Order
	var lines []store.OrderLine
	for i := range size.orders {
		p := pickFrom(rnd, placers)
		owner := p.org
		if rnd.IntN(8) == 0 {
			owner = pickFrom(rnd, w.ids)
		}
		// Seconds collide on purpose: ties are broken by id.
		created := base.Add(time.Duration(rnd.IntN(size.orders/3)) * time.Second)
		// An id of the service's shape (o + the buyer's shard), made from
		// the seed so that a failing run can be replayed.
		id := fmt.Sprintf("o%02d%016x", order.ShardOf(p.id), rnd.Uint64())
		o := worldOrder{id: id, buyer: p.id, owner: owner, biz: pickFrom(rnd, worldBizCodes), createdAt: created}
		status := statusFor(rnd, o.biz)
		row := store.Order{ID: o.id, BizCode: o.biz, BuyerID: o.buyer, OwnerOrg: o.owner, Channel: "app", Status: status,
			Currency: "CNY", Subtotal: 1200, Total: 1200, PaymentMethod: "card", Location: "default",
			Shipping: `{"region":"CN-31","city":"Shanghai","line1":"1 Bund"}`, Version: 1, CreatedAt: created, UpdatedAt: created}
		if status == store.StatusPendingPayment {
			deadline := created.Add(24 * time.Hour)
			row.PaymentDeadline = &deadline
		}
		line := store.OrderLine{OrderID: o.id, LineNo: 1, SKU: "mug", Quantity: 1, ListPrice: 1200, UnitPrice: 1200, LineTotal: 1200}
		if i < 50 {
			row.Lines = []store.OrderLine{line}
			if err := e.st.CreateOrder(ctx, store.NewOrder{Order: row,
				History: store.OrderHistory{Event: "place", Actor: p.id, CreatedAt: created}}); err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
		} else {
			heads, lines = append(heads, row), append(lines, line)
		}
		w.orders = append(w.orders, o)
	}
	if err := e.st.DB(ctx).CreateInBatches(heads, 25).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.st.DB(ctx).CreateInBatches(lines, 25).Error; err != nil {
		t.Fatal(err)
	}
	w.sortOrders()
	for _, o := range w.orders {
		w.orderIdx[o.id] = o
	}
	return w
}

// orderRowsDigest is every order row as a line of the fields an access
// check must not change.
func orderRowsDigest(t *testing.T, st *store.Store) []string {
	t.Helper()
	var rows []store.Order
	if err := st.DB(t.Context()).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, o := range rows {
		out[i] = fmt.Sprintf("%s %s %s %s %d %s %s", o.ID, o.BuyerID, o.OwnerOrg, o.Status, o.Version,
			o.UpdatedAt.UTC().Format(time.RFC3339Nano), o.BizCode)
	}
	return out
}

// samplePair picks a (principal, order) pair, half the time one the oracle
// lets through (when the principal sees any order at all).
func (w *orgWorld) samplePair(rnd *rand.Rand, visible map[string][]string) (worldPrincipal, worldOrder) {
	p := pickFrom(rnd, w.people)
	if vs := visible[p.id]; len(vs) > 0 && rnd.IntN(2) == 0 {
		return p, w.orderIdx[pickFrom(rnd, vs)]
	}
	return p, pickFrom(rnd, w.orders)
}

// checkRead fails unless GET /v1/orders/{id} answers as the oracle says.
func (w *orgWorld) checkRead(t *testing.T, e *env, p worldPrincipal, o worldOrder) bool {
	t.Helper()
	r := e.do("GET", "/v1/orders/"+o.id, p.token, nil)
	if w.sees(p, o) {
		if r.status != 200 || decodeView(t, r).ID != o.id {
			t.Errorf("%s (roles %v, org %s) may see order %s (buyer %s, owner %s %s, %s) but got %s", p.id, p.roles,
				w.paths[p.org], o.id, o.buyer, o.owner, w.paths[o.owner], o.biz, r)
			return false
		}
		return true
	}
	if r.status != 404 || r.code() != "order_not_found" {
		t.Errorf("%s (roles %v, org %s, grants %v) may not see order %s (buyer %s, owner %s, %s) but got %s", p.id, p.roles,
			w.paths[p.org], p.identities, o.id, o.buyer, w.paths[o.owner], o.biz, r)
		return false
	}
	return true
}

// checkList fails unless p's pages, followed to the end, hold exactly the
// orders the oracle gives it, in list order.
func (w *orgWorld) checkList(t *testing.T, e *env, p worldPrincipal, limit int) {
	t.Helper()
	want := w.visible(p)
	got := orderIDs(e.orders(p.token, "", limit))
	if !slices.Equal(got, want) {
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		var dups, extra, missing []string
		for id, n := range seen {
			if n > 1 {
				dups = append(dups, id)
			}
			if _, ok := w.orderIdx[id]; !ok || !w.sees(p, w.orderIdx[id]) {
				extra = append(extra, id)
			}
		}
		for _, id := range want {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		t.Errorf("%s (roles %v, org %s, grants %v) lists %d orders, the tree says %d: %d duplicated, %d not visible, %d missing "+
			"(e.g. %v %v %v)", p.id, p.roles, w.paths[p.org], p.identities, len(got), len(want), len(dups), len(extra), len(missing),
			firstFew(dups), firstFew(extra), firstFew(missing))
	}
}

// checkFirstPages fails unless p's first pages hold the first orders the
// oracle gives it, in list order.
func (w *orgWorld) checkFirstPages(t *testing.T, e *env, p worldPrincipal, limit, pages int) {
	t.Helper()
	want := w.visible(p)
	var got []string
	path := fmt.Sprintf("/v1/orders?limit=%d", limit)
	for range pages {
		r := e.do("GET", path, p.token, nil)
		expect(t, r, 200, "")
		page := decodeJSON[order.Page](t, r)
		got = append(got, orderIDs(page.Orders)...)
		if page.NextCursor == "" {
			break
		}
		path = fmt.Sprintf("/v1/orders?limit=%d&cursor=%s", limit, page.NextCursor)
	}
	if n := min(len(want), limit*pages); !slices.Equal(got, want[:n]) {
		t.Errorf("%s (org %s): the first %d orders listed differ from the tree's (%d listed, %d visible)",
			p.id, w.paths[p.org], n, len(got), len(want))
	}
}

func firstFew(s []string) []string { return s[:min(len(s), 3)] }

// Over a generated tree of more than 10,000 nodes, a few hundred
// principals and a few thousand orders, every answer of the API matches
// what the tree says: GET /v1/orders/{id} is 200 or 404, GET /v1/orders
// pages through exactly the visible orders, an event that does not apply is
// 409 when the order is visible and 404 when not, and after a subtree moves
// to another region access follows at once without any order row changing.
// The 10,000-node world runs on one database: PostgreSQL, the production
// store, when TMF_TEST_POSTGRES is set, else SQLite. The store's own tests
// hold the access filters to the same answers on all three databases.
func TestOrgTreeAccess(t *testing.T) {
	dialect := store.SQLite
	if storetest.Available(store.Postgres) {
		dialect = store.Postgres
	}
	t.Run(dialect, func(t *testing.T) {
		st := storetest.Open(t, dialect)
		size := worldSize
		rnd := rand.New(rand.NewPCG(20260521, 6))
		e := newEnv(t, st)
		w := buildWorld(t, e, rnd, size)
		if len(w.ids) < 10_000 || len(w.people) < 300 || len(w.orders) < size.orders {
			t.Fatalf("world of %d nodes, %d principals, %d orders", len(w.ids), len(w.people), len(w.orders))
		}
		t.Logf("%s: %d org nodes (%d regions), %d principals, %d orders", st.Dialect(), len(w.ids), len(w.regions),
			len(w.people), len(w.orders))
		visible := map[string][]string{}
		for _, p := range w.people {
			visible[p.id] = w.visible(p)
		}
		before := orderRowsDigest(t, st)

		t.Run("read", func(t *testing.T) {
			e := e.with(t)
			seen, hidden := 0, 0
			for range size.pairs {
				p, o := w.samplePair(rnd, visible)
				if !w.checkRead(t, e, p, o) {
					continue
				}
				if w.sees(p, o) {
					seen++
				} else {
					hidden++
				}
			}
			// Both answers must have been exercised a fair number of times.
			if seen < size.pairs/5 || hidden < size.pairs/5 {
				t.Errorf("%d pairs visible, %d hidden: the sample does not test both", seen, hidden)
			}
		})

		t.Run("list", func(t *testing.T) {
			e := e.with(t)
			// Every page to the end, for the administrator, a region's agent,
			// operators, a buyer-agent and random principals (no two alike).
			listers := []worldPrincipal{w.byID["root"], w.byID["agent-"+w.regions[0]]}
			for _, id := range []string{"ops-0", "ops-1", "dual-0"} {
				listers = append(listers, w.byID[id])
			}
			for len(listers) < size.listers {
				if p := pickFrom(rnd, w.people); p.id != "agent-hq" && !slices.ContainsFunc(listers,
					func(q worldPrincipal) bool { return q.id == p.id }) {
					listers = append(listers, p)
				}
			}
			for _, p := range listers {
				limit := []int{3, 7, 13}[rnd.IntN(3)]
				if n := len(visible[p.id]); n > 400 {
					limit = 100 // a small page for the few who see a large share of all orders
				} else if n > 150 {
					limit = 25
				}
				w.checkList(t, e, p, limit)
			}
			// The agent at HQ sees the whole tree. Its filter (a prefix that
			// every node matches) costs a scan of the tree per page, which the
			// race detector makes slow: its first page only.
			w.checkFirstPages(t, e, w.byID["agent-hq"], 100, 1)
		})

		t.Run("events", func(t *testing.T) {
			e := e.with(t)
			seen := 0
			for range size.eventPairs {
				p, o := w.samplePair(rnd, visible)
				r := e.do("POST", "/v1/orders/"+o.id+"/events", p.token, `{"event":"receive"}`)
				if w.sees(p, o) {
					seen++
					if r.status != 409 || r.code() != "event_not_allowed" {
						t.Errorf("%s fires receive on visible order %s: %s; want 409 event_not_allowed", p.id, o.id, r)
					}
				} else if r.status != 404 || r.code() != "order_not_found" {
					t.Errorf("%s fires receive on hidden order %s: %s; want 404 order_not_found", p.id, o.id, r)
				}
			}
			if seen < size.eventPairs/5 || seen > size.eventPairs*4/5 {
				t.Errorf("%d of %d event pairs visible: the sample does not test both answers", seen, size.eventPairs)
			}
			if after := orderRowsDigest(t, st); !slices.Equal(after, before) {
				t.Errorf("refused events changed order rows")
			}
		})

		t.Run("move", func(t *testing.T) {
			e := e.with(t)
			// The tier-1 node with the most orders under it moves to another region.
			owned := map[string]int{}
			for _, o := range w.orders {
				for n := o.owner; n != ""; n = w.parent[n] {
					owned[n]++
				}
			}
			node := slices.MaxFunc(w.byKind["agent1"], func(a, b string) int { return cmp.Compare(owned[a], owned[b]) })
			from := w.parent[node]
			to := w.regions[(slices.Index(w.regions, from)+1)%len(w.regions)]
			fromAgent, toAgent := w.byID["agent-"+from], w.byID["agent-"+to]
			// The orders under it, but not those the two agents placed themselves.
			var moved []worldOrder
			sub := w.subtree(node)
			for _, o := range w.orders {
				if sub[o.owner] && o.buyer != fromAgent.id && o.buyer != toAgent.id {
					moved = append(moved, o)
				}
			}
			if len(moved) < 5 {
				t.Fatalf("only %d orders under %s", len(moved), node)
			}
			// Agents inside the subtree keep what they see.
			var inside []worldPrincipal
			for _, p := range w.people {
				if p.has("agent") && sub[p.org] {
					inside = append(inside, p)
				}
			}
			sample := moved[:min(len(moved), 25)]
			for _, o := range sample {
				if !w.sees(fromAgent, o) || w.sees(toAgent, o) {
					t.Fatalf("before the move: %s sees %v, %s sees %v", fromAgent.id, w.sees(fromAgent, o), toAgent.id, w.sees(toAgent, o))
				}
				w.checkRead(t, e, fromAgent, o)
				w.checkRead(t, e, toAgent, o)
			}
			beforeMove := orderRowsDigest(t, st)

			r := e.do("POST", "/v1/admin/orgs/"+node+"/move", adminToken, api.OrgMoveRequest{Parent: &to})
			expect(t, r, 200, "")
			w.move(node, to)
			if v := decodeJSON[api.OrgView](t, r); v.Path != w.paths[node] || v.Parent != to {
				t.Fatalf("moved %+v; want path %s", v, w.paths[node])
			}
			if problems, err := st.CheckOrgTree(t.Context()); err != nil || len(problems) > 0 {
				t.Fatalf("the tree after the move: %v %v", problems, err)
			}
			for _, o := range sample {
				if w.sees(fromAgent, o) || !w.sees(toAgent, o) {
					t.Fatalf("the oracle did not follow the move")
				}
				w.checkRead(t, e, fromAgent, o)
				w.checkRead(t, e, toAgent, o)
				for _, p := range inside[:min(len(inside), 4)] {
					w.checkRead(t, e, p, o)
				}
			}
			for _, p := range append([]worldPrincipal{fromAgent, toAgent}, inside[:min(len(inside), 3)]...) {
				w.checkList(t, e, p, 25)
			}
			if after := orderRowsDigest(t, st); !slices.Equal(after, beforeMove) {
				t.Errorf("moving %s changed order rows", node)
			}
		})
	})
}
