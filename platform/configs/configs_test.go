package configs_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/configs"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/products/standardretail"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

func fileConfig() kernel.Config {
	return kernel.Config{Revision: 7, Identities: []kernel.IdentitySpec{{Code: "retail", Products: []kernel.ProductRef{{Name: standardretail.Name}}}},
		Rules: []identity.Rule{{Identity: "retail"}}}
}

func newSource(t testing.TB, st *store.Store) (*configs.Source, *kernel.Kernel) {
	t.Helper()
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	return configs.New(st, k, nil, nil), k
}

func audit(actor string) func(before, after kernel.Config) []store.AuditEntry {
	return func(before, after kernel.Config) []store.AuditEntry {
		return []store.AuditEntry{{Actor: actor, Action: "identity.write", Verb: "update", TargetType: "identity", TargetID: "x"}}
	}
}

// A server boots on the stored revision, seeding revision 1 from its file
// on an empty store; changes compile, save with their audit, and apply; a
// change that does not compile or is stale saves nothing; a second server
// follows.
func TestSourceLifecycle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		one, k1 := newSource(t, st)
		cfg, err := one.Boot(ctx, fileConfig())
		if err != nil || cfg.Revision != 1 || k1.Plans().Revision() != 1 {
			t.Fatalf("boot = rev %d, %v; kernel at %d; want 1", cfg.Revision, err, k1.Plans().Revision())
		}
		two, k2 := newSource(t, st)
		if cfg, err := two.Boot(ctx, kernel.Config{}); err != nil || cfg.Revision != 1 || len(cfg.Identities) != 1 {
			t.Fatalf("second boot = %+v, %v; want the stored revision 1 with retail", cfg, err)
		}

		// Both products bind delivery.freight at priority 10: a conflict.
		conflicting := configs.PutIdentity(kernel.IdentitySpec{Code: "mixed", Products: []kernel.ProductRef{
			{Name: standardretail.Name}, {Name: virtualgoods.Name}}}, []identity.Rule{{Channel: "mixed"}})
		_, err = one.Change(ctx, 1, "alice", conflicting, nil, audit("alice"))
		var ce *kernel.ConfigError
		if !errors.As(err, &ce) || !hasKind(ce.Problems, "conflict") {
			t.Fatalf("conflicting change = %v; want a ConfigError with a conflict", err)
		}
		if n, _ := st.LatestConfigRevision(ctx); n != 1 {
			t.Fatalf("a refused change saved revision %d", n)
		}
		if _, _, err := one.Preview(ctx, conflicting); !errors.As(err, &ce) {
			t.Fatalf("preview of the conflict = %v; want a ConfigError", err)
		}
		twenty := 20
		fixed := configs.PutIdentity(kernel.IdentitySpec{Code: "mixed", Products: []kernel.ProductRef{
			{Name: standardretail.Name}, {Name: virtualgoods.Name, Priority: &twenty}}}, []identity.Rule{{Channel: "mixed"}})
		if _, plans, err := one.Preview(ctx, fixed); err != nil || plans.Revision() != 2 {
			t.Fatalf("preview of the fix = %v", err)
		}
		if k1.Plans().Revision() != 1 {
			t.Fatal("a preview changed the configuration in force")
		}
		next, err := one.Change(ctx, 1, "alice", fixed, nil, audit("alice"))
		if err != nil || next.Revision != 2 || k1.Plans().Revision() != 2 {
			t.Fatalf("change = %+v, %v", next.Revision, err)
		}
		if _, err := one.Change(ctx, 1, "bob", fixed, configs.IdentityUnchanged("mixed"), audit("bob")); !errors.As(err, new(*configs.StaleError)) {
			t.Fatalf("a change from revision 1 after 2 = %v; want StaleError", err)
		}
		// The second server has not seen revision 2: its change is stale in
		// the store, and after Sync it is in step.
		if _, err := two.Change(ctx, 0, "bob", fixed, nil, audit("bob")); !errors.As(err, new(*configs.StaleError)) {
			t.Fatalf("a change on a server behind = %v; want StaleError", err)
		}
		// A change to another identity made from revision 1 still applies:
		// what it is about did not change since.
		other := configs.PutIdentity(kernel.IdentitySpec{Code: "retail", Name: "Retail", Products: []kernel.ProductRef{{Name: standardretail.Name}}},
			[]identity.Rule{{}})
		if next, err := one.Change(ctx, 1, "carol", other, configs.IdentityUnchanged("retail"), audit("carol")); err != nil || next.Revision != 3 {
			t.Fatalf("a change to retail from revision 1 after mixed changed = %v, %v; want revision 3", next.Revision, err)
		}
		if _, err := one.Change(ctx, 1, "dave", other, configs.IdentityUnchanged("retail"), audit("dave")); !errors.As(err, new(*configs.StaleError)) {
			t.Fatalf("a second change to retail from revision 1 = %v; want StaleError (retail changed since)", err)
		}
		if ok, err := two.Sync(ctx); !ok || err != nil || k2.Plans().Revision() != 3 {
			t.Fatalf("sync = %v, %v; kernel at %d", ok, err, k2.Plans().Revision())
		}
		if spec, rules, ok := configs.Identity(k2.Config(), "mixed"); !ok || len(spec.Products) != 2 || len(rules) != 1 || rules[0].Channel != "mixed" {
			t.Fatalf("mixed on the second server = %+v %+v %v", spec, rules, ok)
		}
		entries, err := st.ListAudit(ctx, store.AuditQuery{})
		if err != nil || len(entries) != 2 || entries[0].Actor != "carol" || entries[1].Actor != "alice" {
			t.Fatalf("audit = %+v, %v; want carol's and alice's entries", entries, err)
		}
		latest, _ := st.LatestConfig(ctx)
		var stored kernel.Config
		if err := json.Unmarshal(latest.Body, &stored); err != nil || len(stored.Identities) != 2 || latest.Author != "carol" {
			t.Fatalf("stored revision 2 = %s by %s", latest.Body, latest.Author)
		}
	})
}

// A kernel configured without the store (revision 7 from a file) keeps its
// numbering when its first change is saved.
func TestChangeSeedsTheRevisionInForce(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	src, k := newSource(t, st)
	if _, err := k.Apply(fileConfig()); err != nil {
		t.Fatal(err)
	}
	next, err := src.Change(t.Context(), 7, "alice", configs.PutIdentity(kernel.IdentitySpec{Code: "retail.vip"}, nil), nil, audit("alice"))
	if err != nil || next.Revision != 8 {
		t.Fatalf("change = %d, %v; want revision 8", next.Revision, err)
	}
	if n, _ := st.LatestConfigRevision(t.Context()); n != 8 {
		t.Fatalf("latest stored = %d; want 8", n)
	}
}

func hasKind(ps []kernel.Problem, kind string) bool {
	for _, p := range ps {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

// A configuration refused because a bizpack it binds did not start names
// why it did not start, not only that the bizpack is unknown.
func TestRefusalNamesWhyABizpackDidNotStart(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		k, err := catalog.NewKernel(kernel.WithoutMetrics())
		if err != nil {
			t.Fatal(err)
		}
		cause := errors.New("bizpack shop: bizpack binary checksum does not match the configured SHA-256")
		src := configs.New(st, k, func(context.Context, kernel.Config) error { return cause }, slog.New(slog.DiscardHandler))
		cfg := fileConfig()
		cfg.Identities[0].Bizpacks = []kernel.BizpackRef{{Name: "shop"}}
		_, err = src.Boot(t.Context(), cfg)
		var ce *kernel.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "checksum does not match") {
			t.Fatalf("Boot = %v, want the configuration error with the checksum cause", err)
		}
	})
}
