package readmodel_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// EnvPostgres names the PostgreSQL server of the tests; EnvNATS the NATS
// JetStream server.
const (
	EnvPostgres = "TMF_TEST_POSTGRES"
	EnvNATS     = "TMF_TEST_NATS"
)

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readModelDSN creates a database of its own for a read model (pg_trgm is
// per database) and drops it when the test ends.
func readModelDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the read model test", EnvPostgres)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "tmf_rm_" + randomID()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// openModel opens and migrates a fresh read model.
func openModel(t testing.TB) (*readmodel.Model, string) {
	t.Helper()
	dsn := readModelDSN(t)
	m, err := readmodel.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m, dsn
}

// fixture is an order store on PostgreSQL with the order service over it:
// one retail identity, SKUs with plenty of stock, an organisation tree.
type fixture struct {
	st  *store.Store
	svc *order.Service
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	if os.Getenv(EnvPostgres) == "" {
		t.Skipf("%s is not set: skipping the read model test", EnvPostgres)
	}
	st := storetest.Open(t, store.Postgres)
	cat, reg, err := catalog.NewWith(catalog.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}},
		{Code: "retail.vip", Products: []kernel.ProductRef{{Name: "standard-retail"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, s := range []store.SKU{
		{SKU: "phone", Title: "Phone", Price: 100000, Currency: "CNY", Category: "phone", WeightGrams: 1500},
		{SKU: "case", Title: "Case", Price: 999, Currency: "CNY", Category: "accessory", WeightGrams: 100},
		{SKU: "cable", Title: "Cable", Price: 1999, Currency: "CNY", Category: "accessory", WeightGrams: 50},
	} {
		if err := st.PutSKU(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	err = st.DB(ctx).Transaction(func(tx *gorm.DB) error {
		if err := stock.PutLocation(ctx, tx, stock.Location{Name: "east", Regions: "east", Priority: 5}); err != nil {
			return err
		}
		for _, sku := range []string{"phone", "case", "cable"} {
			if _, err := stock.SetSellable(ctx, tx, sku, "east", 1_000_000, "test"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// hq ─ east ─ sh-01, sh-02 ; hq ─ west ─ bj-01
	for _, o := range []store.Org{{ID: "hq"}, {ID: "east", Parent: "hq"}, {ID: "west", Parent: "hq"},
		{ID: "sh-01", Parent: "east"}, {ID: "sh-02", Parent: "east"}, {ID: "bj-01", Parent: "west"}} {
		if _, err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{st: st, svc: order.NewService(k, st)}
}

// buyers are who place the fixture's orders: id, org, recipient.
var buyers = []struct{ id, org, name string }{
	{"alice", "sh-01", "Alice Zhang"}, {"bob", "sh-02", "Bob Li"}, {"carol", "bj-01", "Carol Wang"},
	{"dave", "east", "Dave Chen"}, {"erin", "", "Erin Wu"},
}

// place places an order of buyer i with the items.
func (f fixture) place(t testing.TB, i int, items ...order.Item) order.View {
	t.Helper()
	b := buyers[i%len(buyers)]
	biz := "retail"
	if i%3 == 2 {
		biz = "retail.vip"
	}
	v, err := f.svc.Place(context.Background(), order.Buyer{ID: b.id, OwnerOrg: b.org},
		order.PlaceRequest{BizCode: biz, Items: items, PaymentMethod: "cod",
			ShippingAddress: &extensions.Address{Region: "east", Line1: fmt.Sprintf("%d Nanjing Road", 100+i), City: "Shanghai",
				Country: "CN", Name: b.name, Phone: "+86 21 5555-01" + fmt.Sprintf("%02d", i%100)}}, nil)
	if err != nil {
		t.Fatalf("place: %v", err)
	}
	return v
}

// storeOrders is every order of the store, in (created_at, id) order.
func storeOrders(t testing.TB, st *store.Store) []readmodel.Snapshot {
	t.Helper()
	src := readmodel.StoreSource{Store: st}
	var out []readmodel.Snapshot
	var after *store.Cursor
	for {
		ids, next, err := src.Scan(context.Background(), after, 200)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			return out
		}
		snaps, err := src.Fetch(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, snaps...)
		after = next
	}
}

// modelOrders is every order of the read model, in (created_at, id) order.
func modelOrders(t testing.TB, m *readmodel.Model) []readmodel.Snapshot {
	t.Helper()
	out, err := modelOrdersErr(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// modelOrdersErr is modelOrders with the error of the read model.
func modelOrdersErr(m *readmodel.Model) ([]readmodel.Snapshot, error) {
	var out []readmodel.Snapshot
	q := readmodel.Query{Limit: 500}
	for {
		page, err := m.List(context.Background(), q)
		if err != nil {
			return nil, err
		}
		for _, h := range page {
			out = append(out, h.Snapshot)
		}
		if len(page) < q.Limit {
			return out, nil
		}
		last := page[len(page)-1].Order
		q.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// diff describes how the read model differs from the store ("" when equal).
func diff(want, got []readmodel.Snapshot) string {
	key := func(s readmodel.Snapshot) string {
		o := s.Order
		var lines []string
		for _, l := range o.Lines {
			lines = append(lines, fmt.Sprintf("%d:%s:%d:%d", l.LineNo, l.SKU, l.Quantity, l.LineTotal))
		}
		return fmt.Sprintf("%s v%d %s %s %s %s total=%d paid=%d refunded=%d at=%d created=%s updated=%s attrs=%v lines=%s ship=%s",
			o.ID, o.Version, o.Status, o.BizCode, o.BuyerID, o.OwnerOrg, o.Total, s.Paid, s.Refunded, s.BalanceAt,
			o.CreatedAt.UTC().Format(time.RFC3339Nano), o.UpdatedAt.UTC().Format(time.RFC3339Nano), s.Attrs, strings.Join(lines, ","), o.Shipping)
	}
	var w, g []string
	for _, s := range want {
		w = append(w, key(s))
	}
	for _, s := range got {
		g = append(g, key(s))
	}
	if slices.Equal(w, g) {
		return ""
	}
	var out []string
	for _, x := range w {
		if !slices.Contains(g, x) {
			out = append(out, "store only: "+x)
		}
	}
	for _, x := range g {
		if !slices.Contains(w, x) {
			out = append(out, "read model only: "+x)
		}
	}
	if len(out) > 6 {
		out = append(out[:6], fmt.Sprintf("… %d differences", len(out)))
	}
	if len(out) == 0 {
		return "same rows, another order"
	}
	return fmt.Sprintf("%d in the store, %d in the read model:\n%s", len(w), len(g), strings.Join(out, "\n"))
}

// eventing starts the outbox relay publishing to a JetStream stream of
// the test's own, and returns the JetStream handle and the stream.
func eventing(t *testing.T, st *store.Store) (jetstream.JetStream, eventbus.Stream) {
	t.Helper()
	u := os.Getenv(EnvNATS)
	if u == "" {
		t.Skipf("%s is not set (e.g. nats://127.0.0.1:4222): skipping the feed test", EnvNATS)
	}
	id := randomID()
	stream := eventbus.Stream{Name: "TEST_RM_" + id, SubjectPrefix: "trm" + id, MaxAge: time.Hour}
	pub, err := eventbus.Connect(eventbus.Options{URL: u, Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.EnsureStream(t.Context()); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	relay := outbox.New(st, outbox.Options{Publisher: pub, Batch: 500, Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = js.DeleteStream(context.Background(), stream.Name)
		nc.Close()
		pub.Close()
	})
	return js, stream
}

// eventingJS connects to the tests' NATS.
func eventingJS(t *testing.T) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(os.Getenv(EnvNATS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, nc
}

// eventually polls cond until it is "" or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
