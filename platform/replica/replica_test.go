package replica_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/replica"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Read replicas are PostgreSQL's: a set over another database is refused
// with ErrUnsupported, as is a replica DSN of another database.
func TestOpenRefusesOtherDatabases(t *testing.T) {
	for _, dialect := range []string{store.SQLite, store.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			st := storetest.Open(t, dialect)
			_, err := replica.Open(t.Context(), st, []string{"postgres://postgres@127.0.0.1:5433/test"}, replica.Options{})
			if !errors.Is(err, replica.ErrUnsupported) {
				t.Fatalf("Open over %s: %v", dialect, err)
			}
		})
	}
	t.Run("a replica that is not PostgreSQL", func(t *testing.T) {
		st := storetest.Open(t, store.Postgres)
		_, err := replica.Open(t.Context(), st, []string{"mysql://root@tcp(127.0.0.1:3306)/test"}, replica.Options{})
		if !errors.Is(err, replica.ErrUnsupported) {
			t.Fatalf("Open with a MySQL replica: %v", err)
		}
	})
}

// seed writes n orders of buyer directly, with a line each.
func seed(t testing.TB, st *store.Store, buyer string, n int) {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	orders := make([]store.Order, 0, n)
	lines := make([]store.OrderLine, 0, n)
	for i := range n {
		id := fmt.Sprintf("o-%s-%06d", buyer, i)
		at := start.Add(time.Duration(i) * time.Second)
		orders = append(orders, store.Order{ID: id, BizCode: "retail", BuyerID: buyer, Status: "created", Currency: "CNY",
			Subtotal: 1999, Total: 1999, Shipping: "{}", Version: 1, CreatedAt: at, UpdatedAt: at})
		lines = append(lines, store.OrderLine{OrderID: id, LineNo: 1, SKU: "mug", Quantity: 1, ListPrice: 1999, UnitPrice: 1999, LineTotal: 1999})
	}
	if err := st.DB(t.Context()).CreateInBatches(orders, 250).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DB(t.Context()).CreateInBatches(lines, 250).Error; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls set until its replica has replayed token's position.
func waitFor(t testing.TB, set *replica.Set, token string) {
	t.Helper()
	need := replica.ParseToken(token)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		set.Poll(t.Context())
		s := set.Statuses()[0]
		if got, _ := replica.ParseLSN(s.Replay); s.Up && got >= need && s.Lag <= set.MaxLag() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica has not replayed %s in a minute: %+v", token, s)
		}
	}
}

// A read goes to the replica when it has what the reader must see: the
// reader's marker and the token it brings; else to the primary.
func TestReadNeedsMarkerAndToken(t *testing.T) {
	r := storetest.OpenReplicated(t)
	ctx := t.Context()
	set, err := replica.Open(ctx, r.Store, []string{r.ReplicaDSN}, replica.Options{Poll: time.Hour, CheckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	seed(t, r.Store, "bob", 3)
	tok, err := set.MarkWrite(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, set, tok)
	storetest.PauseReplay(t)
	seed(t, r.Store, "alice", 1)
	aliceTok, err := set.MarkWrite(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	count := func(buyer string) func(ctx context.Context) (int, bool, error) {
		return func(ctx context.Context) (int, bool, error) {
			orders, err := r.Store.ListOrders(ctx, store.OrderQuery{BuyerID: buyer})
			return len(orders), store.ReadsReplica(ctx), err
		}
	}
	for _, tc := range []struct {
		name, principal, token, buyer string
		level                         replica.Level
		orders                        int
	}{
		{"a reader with no write", "bob", "", "bob", replica.LevelReplica, 3},
		{"the writer, by its marker", "alice", "", "alice", replica.LevelPrimary, 1},
		{"the writer's token, under another principal", "bob", aliceTok, "alice", replica.LevelPrimary, 1},
		{"the writer's token, without a principal", "", aliceTok, "alice", replica.LevelPrimary, 1},
		{"no principal and no token", "", "", "alice", replica.LevelReplica, 0}, // stale, within the bound: allowed
		{"a malformed token asks for nothing", "", "c1.zz", "bob", replica.LevelReplica, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			var onReplica bool
			level, err := set.Read(ctx, tc.principal, tc.token, func(ctx context.Context) (err error) {
				n, onReplica, err = count(tc.buyer)(ctx)
				return err
			})
			if err != nil || level != tc.level || n != tc.orders || onReplica != (tc.level == replica.LevelReplica) {
				t.Fatalf("Read = %s, %v with %d orders (replica context %v); want %s with %d", level, err, n, onReplica, tc.level, tc.orders)
			}
		})
	}
}

// BenchmarkList reads a buyer's first page (20 of 200 orders, with lines)
// from the primary, from the replica, and through Set.Read (the marker's
// lookup on the primary, then the replica).
//
//	TMF_TEST_POSTGRES=… TMF_TEST_POSTGRES_REPLICA=… go test -run '^$' -bench List -benchtime 3s ./platform/replica/
func BenchmarkList(b *testing.B) {
	r := storetest.OpenReplicated(b)
	ctx := b.Context()
	set, err := replica.Open(ctx, r.Store, []string{r.ReplicaDSN}, replica.Options{Poll: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	seed(b, r.Store, "bob", 200)
	if err := r.Store.DB(ctx).Exec("ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
	tok, err := set.MarkWrite(ctx, "bob")
	if err != nil {
		b.Fatal(err)
	}
	waitFor(b, set, tok)
	rep, err := store.Open(ctx, r.ReplicaDSN, store.AsReplica())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rep.Close() })
	list := func(ctx context.Context) error {
		orders, err := r.Store.ListOrders(ctx, store.OrderQuery{BuyerID: "bob", Limit: 20})
		if err == nil && len(orders) != 20 {
			err = fmt.Errorf("%d orders", len(orders))
		}
		return err
	}
	b.Run("primary", func(b *testing.B) {
		for b.Loop() {
			if err := list(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replica", func(b *testing.B) {
		ctx := store.ReadFrom(ctx, rep)
		for b.Loop() {
			if err := list(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set-read", func(b *testing.B) {
		for b.Loop() {
			level, err := set.Read(ctx, "bob", "", list)
			if err != nil || level != replica.LevelReplica {
				b.Fatal(level, err)
			}
		}
	})
}

// Run keeps the replicas' state current: a replica whose replay stopped
// while the primary moves on is seen lagging past the bound, and level
// again once it replays.
func TestRunFollowsLag(t *testing.T) {
	r := storetest.OpenReplicated(t)
	ctx, cancel := context.WithCancel(t.Context())
	set, err := replica.Open(ctx, r.Store, []string{r.ReplicaDSN},
		replica.Options{MaxLag: 200 * time.Millisecond, Poll: 20 * time.Millisecond, CheckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	done := make(chan struct{})
	go func() { defer close(done); set.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	until := func(what string, ok func(replica.Status) bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(set.Statuses()[0]); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute: %+v", what, set.Statuses()[0])
			}
		}
	}
	until("up and level", func(s replica.Status) bool { return s.Up && s.Lag <= set.MaxLag() })
	resume := storetest.PauseReplay(t)
	seed(t, r.Store, "carol", 1)
	until("lagging past the bound", func(s replica.Status) bool { return s.Up && s.Lag > set.MaxLag() })
	if level, err := set.Read(ctx, "", "", func(context.Context) error { return nil }); err != nil || level != replica.LevelPrimary {
		t.Fatalf("a read while the replica lags: %s, %v", level, err)
	}
	resume()
	until("level again", func(s replica.Status) bool { return s.Up && s.Lag <= set.MaxLag() })
}
