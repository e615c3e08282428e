package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// node is an org to create: id and parent.
type node struct{ id, parent string }

// sampleTree has two roots, and ids that sort differently by bytes and by
// a natural-language collation ("east-2" against "east/…"), so that the
// path order of a subtree is checked to be contiguous.
var sampleTree = []node{
	{"hq", ""}, {"east", "hq"}, {"sh-01", "east"}, {"sh-02", "east"}, {"east-2", "hq"},
	{"west", "hq"}, {"cd-01", "west"}, {"other", ""},
}

func mustCreateOrgs(t testing.TB, s *store.Store, nodes ...node) map[string]store.Org {
	t.Helper()
	out := map[string]store.Org{}
	for _, n := range nodes {
		o, err := s.CreateOrg(t.Context(), store.Org{ID: n.id, Parent: n.parent, Name: "node " + n.id, Kind: "agent1"})
		if err != nil {
			t.Fatalf("create org %s under %q: %v", n.id, n.parent, err)
		}
		out[n.id] = o
	}
	return out
}

// listAll pages through ListOrgs with the given page size.
func listAll(t testing.TB, s *store.Store, under string, limit int) []store.Org {
	t.Helper()
	var out []store.Org
	q := store.OrgQuery{Under: under, Limit: limit}
	for {
		page, err := s.ListOrgs(t.Context(), q)
		if err != nil {
			t.Fatalf("list orgs %+v: %v", q, err)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		q.After = page[len(page)-1].Path
	}
}

func paths(orgs []store.Org) []string {
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = o.Path
	}
	return out
}

func wantTreeSound(t testing.TB, s *store.Store) {
	t.Helper()
	problems, err := s.CheckOrgTree(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("org tree: %s", p)
	}
}

func TestCreateGetAndListOrgs(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		c := newClock()
		s := storetest.Open(t, dialect, store.WithClock(c.Now))
		ctx := t.Context()
		created := mustCreateOrgs(t, s, sampleTree...)

		want := store.Org{ID: "sh-01", Parent: "east", Path: "/hq/east/sh-01/", Name: "node sh-01", Kind: "agent1",
			CreatedAt: utc(c.Now()), UpdatedAt: utc(c.Now())}
		deepEqual(t, "created org", created["sh-01"], want)
		got, err := s.GetOrg(ctx, "sh-01")
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "stored org", got, want)
		if p, err := s.OrgPath(ctx, "cd-01"); err != nil || p != "/hq/west/cd-01/" {
			t.Errorf("path of cd-01 = %q, %v", p, err)
		}
		if p, err := s.OrgPath(ctx, ""); err != nil || p != "" {
			t.Errorf(`path of "" = %q, %v; want "", nil`, p, err)
		}
		_, err = s.OrgPath(ctx, "nope")
		wantErrIs(t, err, store.ErrNotFound)
		_, err = s.GetOrg(ctx, "nope")
		wantErrIs(t, err, store.ErrNotFound)

		// Byte order: '-' (0x2d) sorts before '/' (0x2f), and every subtree is contiguous.
		all := []string{"/hq/", "/hq/east-2/", "/hq/east/", "/hq/east/sh-01/", "/hq/east/sh-02/",
			"/hq/west/", "/hq/west/cd-01/", "/other/"}
		for _, limit := range []int{1, 2, 3, 100} {
			deepEqual(t, fmt.Sprintf("all orgs by pages of %d", limit), paths(listAll(t, s, "", limit)), all)
		}
		for under, want := range map[string][]string{
			"east":  {"/hq/east/", "/hq/east/sh-01/", "/hq/east/sh-02/"},
			"hq":    all[:7],
			"sh-02": {"/hq/east/sh-02/"},
			"other": {"/other/"},
		} {
			for _, limit := range []int{1, 2, 100} {
				deepEqual(t, fmt.Sprintf("orgs under %s by pages of %d", under, limit), paths(listAll(t, s, under, limit)), want)
			}
		}
		_, err = s.ListOrgs(ctx, store.OrgQuery{Under: "nope"})
		wantErrIs(t, err, store.ErrNotFound)
		_, err = s.ListOrgs(ctx, store.OrgQuery{After: "/hq/%"})
		wantErrIs(t, err, store.ErrInvalid)
		wantTreeSound(t, s)
	})
}

func TestCreateOrgRefusals(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	cases := []struct {
		name string
		org  store.Org
		want error
		// in is a word the message must hold.
		in string
	}{
		{"taken id", store.Org{ID: "east", Parent: "hq"}, store.ErrDuplicate, "east"},
		{"taken id under another parent", store.Org{ID: "east", Parent: ""}, store.ErrDuplicate, "east"},
		{"unknown parent", store.Org{ID: "x", Parent: "ghost"}, store.ErrNotFound, "ghost"},
		{"parent that cannot be an id", store.Org{ID: "x", Parent: "Ghost_1"}, store.ErrNotFound, "Ghost_1"},
		{"empty id", store.Org{ID: ""}, store.ErrInvalid, "id"},
		{"upper case", store.Org{ID: "East"}, store.ErrInvalid, "East"},
		{"underscore", store.Org{ID: "sh_01"}, store.ErrInvalid, "sh_01"},
		{"percent", store.Org{ID: "sh%"}, store.ErrInvalid, "sh%"},
		{"slash", store.Org{ID: "a/b"}, store.ErrInvalid, "a/b"},
		{"leading dash", store.Org{ID: "-a"}, store.ErrInvalid, "-a"},
		{"65 bytes", store.Org{ID: long + "a"}, store.ErrInvalid, "not an org id"},
		{"non-ASCII", store.Org{ID: "华东"}, store.ErrInvalid, "not an org id"},
		{"name of 201 characters", store.Org{ID: "x", Name: strings.Repeat("华", 201)}, store.ErrInvalid, "name"},
		{"kind of 33 characters", store.Org{ID: "x", Kind: strings.Repeat("k", 33)}, store.ErrInvalid, "kind"},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		mustCreateOrgs(t, s, sampleTree...)
		before := listAll(t, s, "", 1000)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.CreateOrg(t.Context(), tc.org)
				wantErrIs(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.in) {
					t.Errorf("error %q does not name %q", err, tc.in)
				}
			})
		}
		// Limits that are allowed, then a path one segment too long.
		if _, err := s.CreateOrg(t.Context(), store.Org{ID: long, Name: strings.Repeat("华", 200), Kind: strings.Repeat("k", 32)}); err != nil {
			t.Fatalf("org at every limit: %v", err)
		}
		parent := long
		for i := 2; ; i++ {
			id := fmt.Sprintf("%s%02d", long[:62], i) // 65 bytes of path each
			_, err := s.CreateOrg(t.Context(), store.Org{ID: id, Parent: parent})
			if i < 16 { // 1 + 15×65 = 976 bytes
				if err != nil {
					t.Fatalf("depth %d: %v", i, err)
				}
				parent = id
				continue
			}
			wantErrIs(t, err, store.ErrInvalid) // 1041 bytes
			break
		}
		after := map[string]store.Org{}
		for _, o := range listAll(t, s, "", 1000) {
			after[o.ID] = o
		}
		if len(after) != len(before)+15 {
			t.Errorf("%d orgs after the refusals, want %d", len(after), len(before)+15)
		}
		for _, o := range before {
			deepEqual(t, "org "+o.ID+" after the refusals", after[o.ID], o)
		}
		wantTreeSound(t, s)
	})
}

func TestMoveOrg(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		c := newClock()
		s := storetest.Open(t, dialect, store.WithClock(c.Now))
		ctx := t.Context()
		mustCreateOrgs(t, s, sampleTree...)
		mustCreateOrgs(t, s, node{"sh-01-a", "sh-01"})
		before := listAll(t, s, "", 1000)
		c.Add(time.Hour)

		moved, err := s.MoveOrg(ctx, "east", "west")
		if err != nil {
			t.Fatal(err)
		}
		if moved.ID != "east" || moved.Parent != "west" || moved.Path != "/hq/west/east/" || !moved.UpdatedAt.Equal(utc(c.Now())) {
			t.Errorf("moved org = %+v", moved)
		}
		wantPaths := map[string]string{
			"hq": "/hq/", "east": "/hq/west/east/", "sh-01": "/hq/west/east/sh-01/", "sh-01-a": "/hq/west/east/sh-01/sh-01-a/",
			"sh-02": "/hq/west/east/sh-02/", "east-2": "/hq/east-2/", "west": "/hq/west/", "cd-01": "/hq/west/cd-01/", "other": "/other/",
		}
		inSubtree := map[string]bool{"east": true, "sh-01": true, "sh-01-a": true, "sh-02": true}
		after := listAll(t, s, "", 1000)
		if len(after) != len(before) {
			t.Fatalf("%d orgs after the move, want %d", len(after), len(before))
		}
		was := map[string]store.Org{}
		for _, o := range before {
			was[o.ID] = o
		}
		for _, o := range after {
			want := was[o.ID]
			want.Path = wantPaths[o.ID]
			if inSubtree[o.ID] {
				want.UpdatedAt = utc(c.Now())
			}
			if o.ID == "east" {
				want.Parent = "west"
			}
			deepEqual(t, "org "+o.ID+" after the move", o, want)
		}
		wantTreeSound(t, s)
		deepEqual(t, "west's subtree", paths(listAll(t, s, "west", 2)), []string{"/hq/west/", "/hq/west/cd-01/",
			"/hq/west/east/", "/hq/west/east/sh-01/", "/hq/west/east/sh-01/sh-01-a/", "/hq/west/east/sh-02/"})

		// Refusals change nothing.
		for _, tc := range []struct {
			name, id, parent string
			want             error
		}{
			{"under itself", "east", "east", store.ErrOrgCycle},
			{"under its child", "east", "sh-01", store.ErrOrgCycle},
			{"under its grandchild", "west", "sh-01-a", store.ErrOrgCycle},
			{"a root under its descendant", "hq", "cd-01", store.ErrOrgCycle},
			{"unknown node", "ghost", "hq", store.ErrNotFound},
			{"unknown parent", "east", "ghost", store.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.MoveOrg(ctx, tc.id, tc.parent)
				wantErrIs(t, err, tc.want)
			})
		}
		deepEqual(t, "orgs after refused moves", listAll(t, s, "", 1000), after)

		// Under its own parent: nothing changes, not even UpdatedAt.
		c.Add(time.Hour)
		same, err := s.MoveOrg(ctx, "east", "west")
		if err != nil || same.Path != "/hq/west/east/" || !same.UpdatedAt.Equal(moved.UpdatedAt) {
			t.Errorf("move under the same parent: %+v, %v", same, err)
		}
		// To a root, and back under another root.
		root, err := s.MoveOrg(ctx, "sh-01", "")
		if err != nil || root.Parent != "" || root.Path != "/sh-01/" {
			t.Fatalf("move to a root: %+v, %v", root, err)
		}
		if p, _ := s.OrgPath(ctx, "sh-01-a"); p != "/sh-01/sh-01-a/" {
			t.Errorf("path of sh-01-a after its parent became a root: %s", p)
		}
		if o, err := s.MoveOrg(ctx, "sh-01", "other"); err != nil || o.Path != "/other/sh-01/" {
			t.Fatalf("move under another root: %+v, %v", o, err)
		}
		if p, _ := s.OrgPath(ctx, "sh-01-a"); p != "/other/sh-01/sh-01-a/" {
			t.Errorf("path of sh-01-a: %s", p)
		}
		wantTreeSound(t, s)
	})
}

// A move that would push a descendant's path past 1024 bytes is refused whole.
func TestMoveOrgRefusesTooLongPaths(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		var chain []node // 1 + 15×65 = 976 bytes deep
		for i := range 15 {
			n := node{id: fmt.Sprintf("%s%02d", strings.Repeat("c", 62), i)}
			if i > 0 {
				n.parent = chain[i-1].id
			}
			chain = append(chain, n)
		}
		mustCreateOrgs(t, s, chain...)
		mustCreateOrgs(t, s, node{"r", ""}, node{"rr", "r"}, node{strings.Repeat("d", 50), "rr"})
		if _, err := s.MoveOrg(ctx, chain[0].id, "rr"); err != nil { // 976 + len("/r/rr") = 981
			t.Fatalf("move to 981 bytes: %v", err)
		}
		if p, _ := s.OrgPath(ctx, chain[14].id); len(p) != 981 {
			t.Fatalf("deepest path of %d bytes after the move, want 981", len(p))
		}
		before := listAll(t, s, "", 1000)
		_, err := s.MoveOrg(ctx, chain[0].id, strings.Repeat("d", 50)) // 981 + 51 > 1024
		wantErrIs(t, err, store.ErrInvalid)
		deepEqual(t, "orgs after the refused move", listAll(t, s, "", 1000), before)
		wantTreeSound(t, s)
	})
}

func TestRemoveOrg(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		mustCreateOrgs(t, s, sampleTree...)
		if err := s.CreatePrincipal(ctx, store.Principal{ID: "ann", Org: "east", TokenHash: "h1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePrincipal(ctx, store.Principal{ID: "bob", Org: "sh-01", TokenHash: "h2"}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			n := newOrder(fmt.Sprint("o-", i))
			n.Order.OwnerOrg = "east"
			mustCreate(t, s, n)
		}
		n := newOrder("o-sh-02")
		n.Order.OwnerOrg = "sh-02"
		mustCreate(t, s, n)

		inUse := func(id string, want store.OrgInUseError) {
			t.Helper()
			err := s.RemoveOrg(ctx, id)
			wantErrIs(t, err, store.ErrOrgInUse)
			var got *store.OrgInUseError
			if !errors.As(err, &got) {
				t.Fatalf("remove %s: %v is not an *OrgInUseError", id, err)
			}
			want.Org = id
			deepEqual(t, "remove "+id, *got, want)
			if _, err := s.GetOrg(ctx, id); err != nil {
				t.Errorf("refused removal of %s: %v", id, err)
			}
		}
		inUse("east", store.OrgInUseError{Children: 2, Principals: 1, Orders: 3})
		inUse("sh-01", store.OrgInUseError{Principals: 1})
		inUse("sh-02", store.OrgInUseError{Orders: 1})
		inUse("hq", store.OrgInUseError{Children: 3})

		for _, id := range []string{"cd-01", "west"} { // a leaf, then the parent it left empty
			if err := s.RemoveOrg(ctx, id); err != nil {
				t.Fatalf("remove %s: %v", id, err)
			}
			_, err := s.GetOrg(ctx, id)
			wantErrIs(t, err, store.ErrNotFound)
		}
		wantErrIs(t, s.RemoveOrg(ctx, "west"), store.ErrNotFound)

		// Principal moved elsewhere: sh-01 is free.
		if err := s.PutPrincipal(ctx, store.Principal{ID: "bob", Org: "other", Identities: "retail,b2b", TokenHash: "h2"}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.GetPrincipal(ctx, "bob"); err != nil || p.Org != "other" || p.Identities != "retail,b2b" {
			t.Fatalf("bob after put: %+v, %v", p, err)
		}
		if err := s.RemoveOrg(ctx, "sh-01"); err != nil {
			t.Fatalf("remove sh-01 once its principal left: %v", err)
		}
		inUse("other", store.OrgInUseError{Principals: 1})
		wantTreeSound(t, s)
		deepEqual(t, "orgs left", paths(listAll(t, s, "", 100)),
			[]string{"/hq/", "/hq/east-2/", "/hq/east/", "/hq/east/sh-02/", "/other/"})
	})
}

// Two writers move random nodes of a few hundred at the same time: the
// tree's lock must keep every path equal to its parent's path + id + "/",
// and no node may get lost (cut off in a cycle, or dropped).
func TestConcurrentMovesKeepTheTreeSound(t *testing.T) {
	t.Parallel()
	const nodes, movers, moves = 300, 2, 150
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(8))
		ctx := t.Context()
		rnd := rand.New(rand.NewPCG(uint64(len(dialect)), 42))
		tree := make([]node, nodes)
		for i := range tree {
			tree[i].id = fmt.Sprintf("n%d", i)
			if i >= 3 { // three roots
				tree[i].parent = tree[rnd.IntN(i)].id
			}
		}
		mustCreateOrgs(t, s, tree...)
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[string]int{}
		for m := range movers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(m), 7))
				for range moves {
					id, parent := tree[rnd.IntN(nodes)].id, tree[rnd.IntN(nodes)].id
					if rnd.IntN(20) == 0 {
						parent = ""
					}
					_, err := s.MoveOrg(ctx, id, parent)
					outcome := "moved"
					switch {
					case err == nil:
					case errors.Is(err, store.ErrOrgCycle):
						outcome = "cycle"
					case errors.Is(err, store.ErrInvalid): // a path would pass 1024 bytes
						outcome = "too deep"
					default:
						t.Errorf("move %s under %q: %v", id, parent, err)
						return
					}
					mu.Lock()
					outcomes[outcome]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if outcomes["moved"] < moves/2 {
			t.Errorf("outcomes %v: too few moves to test anything", outcomes)
		}
		wantTreeSound(t, s)
		all := listAll(t, s, "", 37)
		if len(all) != nodes {
			t.Fatalf("%d orgs after the moves, want %d", len(all), nodes)
		}
		// Every node is reachable from a root through its parents, and its
		// path spells that chain.
		byID := map[string]store.Org{}
		for _, o := range all {
			byID[o.ID] = o
		}
		for _, o := range all {
			var chain []string
			for at := o; ; at = byID[at.Parent] {
				chain = append(chain, at.ID)
				if at.Parent == "" {
					break
				}
				if len(chain) > nodes {
					t.Fatalf("org %s is on a cycle: %v", o.ID, chain)
				}
			}
			slices.Reverse(chain)
			if want := "/" + strings.Join(chain, "/") + "/"; o.Path != want {
				t.Errorf("org %s: path %s, chain of parents %s", o.ID, o.Path, want)
			}
		}
		t.Logf("%s: %v", dialect, outcomes)
	})
}

// Migrate drops the owner_path column of older databases, NOT NULL without
// a default, which would refuse every new order; orders already there stay.
func TestMigrateDropsOwnerPath(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		// The old column, as an older Migrate made it: NOT NULL, no default
		// (SQLite cannot drop a default: its column keeps one).
		db := s.DB(ctx)
		if err := db.Exec("ALTER TABLE tmf_orders ADD COLUMN owner_path varchar(255) NOT NULL DEFAULT ''").Error; err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, newOrder("o-before"))
		if s.Dialect() != store.SQLite {
			if err := db.Exec("ALTER TABLE tmf_orders ALTER COLUMN owner_path DROP DEFAULT").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.CreateOrder(ctx, newOrder("o-refused")); err == nil {
				t.Fatal("the old column let an order in: the test does not test anything")
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if s.DB(ctx).Migrator().HasColumn(&store.Order{}, "owner_path") {
			t.Fatal("Migrate left owner_path")
		}
		n := newOrder("o-after")
		n.Order.OwnerOrg = "hq"
		mustCreate(t, s, n)
		for id, owner := range map[string]string{"o-before": "org-1", "o-after": "hq"} {
			if o, err := s.GetOrder(ctx, id); err != nil || o.OwnerOrg != owner {
				t.Errorf("order %s: owner %q, %v; want %q", id, o.OwnerOrg, err, owner)
			}
		}
	})
}
