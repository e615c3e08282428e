package configs_test

import (
	"fmt"
	"testing"

	"github.com/tmf-platform/tmf/platform/configs"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/products/standardretail"
)

// manyIdentities is a configuration of n identities under 10 top-level
// business lines, each with a resolution rule.
func manyIdentities(n int) kernel.Config {
	cfg := kernel.Config{}
	for i := range n {
		code := identity.Code(fmt.Sprintf("line%d", i%10))
		if i >= 10 {
			code = identity.Code(fmt.Sprintf("line%d.sub%d", i%10, i))
		}
		spec := kernel.IdentitySpec{Code: code, Name: string(code)}
		if i < 10 {
			spec.Products = []kernel.ProductRef{{Name: standardretail.Name}}
		}
		cfg.Identities = append(cfg.Identities, spec)
		cfg.Rules = append(cfg.Rules, identity.Rule{Identity: code, Channel: string(code)})
	}
	return cfg
}

// BenchmarkPreview: what the console's automatic check costs the server —
// the whole configuration compiled with one identity changed.
func BenchmarkPreview(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) {
			st := storetest.Open(b, "sqlite")
			src, _ := newSource(b, st)
			if _, err := src.Boot(b.Context(), manyIdentities(n)); err != nil {
				b.Fatal(err)
			}
			edit := configs.PutIdentity(kernel.IdentitySpec{Code: "line3.sub13", Name: "changed"}, []identity.Rule{{Channel: "x"}})
			for b.Loop() {
				if _, _, err := src.Preview(b.Context(), edit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChange: a saved change — compile, save the revision with its
// audit entry (SQLite), put it in force.
func BenchmarkChange(b *testing.B) {
	st := storetest.Open(b, "sqlite")
	src, k := newSource(b, st)
	if _, err := src.Boot(b.Context(), manyIdentities(100)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		edit := configs.PutIdentity(kernel.IdentitySpec{Code: "line3.sub13", Name: fmt.Sprint(i)}, nil)
		if _, err := src.Change(b.Context(), k.Config().Revision, "bench", edit, nil, func(_, _ kernel.Config) []store.AuditEntry {
			return []store.AuditEntry{{Actor: "bench", Action: "identity.write", Verb: "update", TargetType: "identity", TargetID: "line3.sub13"}}
		}); err != nil {
			b.Fatal(err)
		}
	}
}
