package kernel

import (
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// TestPurchaseLimitValidation: a limit that does not check, or counts per
// an order attribute the identities it binds do not declare and require,
// refuses the configuration, each problem named; a good one compiles.
func TestPurchaseLimitValidation(t *testing.T) {
	f := newFixture(t)
	phone := &extensions.AttributeSchema{Type: "object", Required: []string{"phone"}, Properties: map[string]extensions.AttributeProperty{
		"phone": {Type: extensions.AttrString, Pattern: `^\+[1-9][0-9]{6,14}$`},
		"note":  {Type: extensions.AttrString},
	}}
	f.must(f.reg.AddProduct(Product{Name: "topup", Version: "1", Attributes: phone}))
	f.start()
	from, to := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 19, 0, 0, 0, 0, time.UTC)
	ok := PurchaseLimit{Name: "ok", Scope: LimitScopeIdentity, Window: LimitWindowDay, Max: 3}
	with := func(change func(*PurchaseLimit)) PurchaseLimit {
		l := ok
		change(&l)
		return l
	}
	cases := []struct {
		name   string
		code   string // the identity that carries the limit
		limits []PurchaseLimit
		want   []string // substrings of the problems; none means accepted
	}{
		{"per buyer by default", "topup", []PurchaseLimit{ok}, nil},
		{"per buyer", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "buyer" })}, nil},
		{"per org", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "org" })}, nil},
		{"per a required attribute", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:phone" })}, nil},
		{"per a required attribute, on a descendant", "topup.mobile", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:phone" })}, nil},
		{"period", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Window, l.From, l.To = "period", &from, &to })}, nil},
		{"amount", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Measure, l.Currency = "amount", "CNY" })}, nil},
		{"per an optional attribute", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:note" })},
			[]string{`purchase limit "ok" (of topup) counts per order attribute "note", which topup declares for identity topup but does not require`}},
		{"per an undeclared attribute", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:imei" })},
			[]string{`counts per order attribute "imei", which identity topup does not declare`}},
		{"per an attribute the identity has none of", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:phone" })},
			[]string{`counts per order attribute "phone", which identity shop does not declare`}},
		{"per a malformed attribute name", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:ph.one" })},
			[]string{`per "attr:ph.one": an attribute name is 1 to 64`}},
		{"per an empty attribute name", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "attr:" })},
			[]string{`per "attr:": an attribute name`}},
		{"per something else", "topup", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Per = "device" })},
			[]string{`per "device" must be buyer, org or attr:<attribute name>`}},
		{"bad name", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Name = "Bad Name" })}, []string{"a name is 1 to 64"}},
		{"bad scope", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Scope = "shop" })}, []string{`scope "shop" must be`}},
		{"bad window", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Window = "week" })}, []string{`window "week" must be`}},
		{"period without to", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Window, l.From = "period", &from })}, []string{"a period needs from before to"}},
		{"from outside a period", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.From = &from })}, []string{"from and to belong to the period window"}},
		{"max 0", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Max = 0 })}, []string{"max must be at least 1"}},
		{"amount without currency", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Measure = "amount" })}, []string{"needs a currency"}},
		{"currency on quantity", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Currency = "CNY" })}, []string{"currency belongs to the amount measure"}},
		{"bad measure", "shop", []PurchaseLimit{with(func(l *PurchaseLimit) { l.Measure = "weight" })}, []string{`measure "weight" must be`}},
		{"twice", "shop", []PurchaseLimit{ok, ok}, []string{`purchase limit "ok" is configured twice`}},
		{"several problems at once", "topup", []PurchaseLimit{
			with(func(l *PurchaseLimit) { l.Name, l.Per = "a", "attr:note" }),
			with(func(l *PurchaseLimit) { l.Name, l.Per = "b", "attr:imei" })},
			[]string{`"a" (of topup) counts per order attribute "note"`, `"b" (of topup) counts per order attribute "imei"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Revision: 1, Identities: []IdentitySpec{
				{Code: "topup", Products: products("topup")},
				{Code: "topup.mobile"},
				{Code: "shop"},
			}}
			for i := range cfg.Identities {
				if string(cfg.Identities[i].Code) == tc.code {
					cfg.Identities[i].PurchaseLimits = tc.limits
				}
			}
			set, err := f.k.Apply(cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				p, _ := set.Plan("topup.mobile")
				if tc.code != "shop" && len(p.PurchaseLimits()) != 1 {
					t.Fatalf("topup.mobile's limits %+v, want its chain's one", p.PurchaseLimits())
				}
				return
			}
			ce := asConfig(t, err)
			for _, w := range tc.want {
				found := false
				for _, p := range ce.Problems {
					if p.Kind == "purchase_limits" && strings.Contains(p.Message, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("problems %v do not say %q", ce.Problems, w)
				}
			}
		})
	}
}
