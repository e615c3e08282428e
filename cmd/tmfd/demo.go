package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
)

// Demo tokens are fixed so that the README's examples work as written. They
// are for trying the server on a laptop, never for a real deployment.
var demoPrincipals = []struct {
	principal store.Principal
	token     string
}{
	{store.Principal{ID: "alice", Roles: "buyer", Org: "shanghai"}, "demo-alice"},
	{store.Principal{ID: "bob", Roles: "buyer", Org: "chengdu"}, "demo-bob"},
	{store.Principal{ID: "agent-1", Roles: "agent", Org: "east", Attrs: `{"agentLevel":"1"}`}, "demo-agent-1"},
	{store.Principal{ID: "ops", Roles: "operator", Org: "hq", Identities: "*"}, "demo-ops"},
}

// demoOrgs is the demo's organisation tree, parents first: agent-1 sits at
// the east region and so acts on alice's orders (placed in shanghai), not
// on bob's (chengdu).
var demoOrgs = []store.Org{
	{ID: "hq", Name: "Headquarters", Kind: "hq"},
	{ID: "east", Parent: "hq", Name: "East region", Kind: "region"},
	{ID: "west", Parent: "hq", Name: "West region", Kind: "region"},
	{ID: "shanghai", Parent: "east", Name: "Shanghai store", Kind: "store"},
	{ID: "chengdu", Parent: "west", Name: "Chengdu store", Kind: "store"},
}

var demoSKUs = []store.SKU{
	{SKU: "phone-x", Title: "Phone X", Price: 399900, Currency: "CNY", Category: "phone", WeightGrams: 420},
	{SKU: "case-x", Title: "Phone X case", Price: 4900, Currency: "CNY", Category: "accessory", WeightGrams: 80},
	{SKU: "charger-65w", Title: "65 W charger", Price: 12900, Currency: "CNY", Category: "accessory", WeightGrams: 250},
	{SKU: "topup-50", Title: "Mobile top-up 50 CNY", Price: 4980, Currency: "CNY", Category: "topup", Virtual: true},
	{SKU: "topup-100", Title: "Mobile top-up 100 CNY", Price: 9950, Currency: "CNY", Category: "topup", Virtual: true},
	{SKU: "ticket-museum", Title: "Museum ticket", Price: 6000, Currency: "CNY", Category: "ticket", Virtual: true},
}

// demoCredit is agent-1's credit line, in fen (100,000.00 CNY).
const demoCredit = 10_000_000

var demoLocations = []stock.Location{
	{Name: "wh-shanghai", Regions: "east,north", Priority: 10},
	{Name: "wh-chengdu", Regions: "west,south", Priority: 10},
	{Name: "virtual", Priority: 0},
}

var demoStock = []struct {
	sku, location string
	sellable      int64
}{
	{"phone-x", "wh-shanghai", 50}, {"phone-x", "wh-chengdu", 30},
	{"case-x", "wh-shanghai", 500}, {"case-x", "wh-chengdu", 300},
	{"charger-65w", "wh-shanghai", 200},
	{"topup-50", "virtual", 100000}, {"topup-100", "virtual", 100000}, {"ticket-museum", "virtual", 2000},
}

// loadDemo writes the demo catalogue, stock and buyers. It is safe to run on
// every start: principals that exist are kept, and stock is set only where
// none was set before.
func loadDemo(ctx context.Context, st, stockDB *store.Store, stdout io.Writer) error {
	for _, s := range demoSKUs {
		if err := st.PutSKU(ctx, s); err != nil {
			return err
		}
	}
	for _, l := range demoLocations {
		if err := stockDB.Tx(ctx, func(tx *gorm.DB) error { return stock.PutLocation(ctx, tx, l) }); err != nil {
			return err
		}
	}
	for _, s := range demoStock {
		levels, err := stock.Levels(ctx, stockDB.DB(ctx), s.sku)
		if err != nil {
			return err
		}
		set := false
		for _, l := range levels {
			set = set || l.Location == s.location
		}
		if set {
			continue
		}
		if err := stockDB.Tx(ctx, func(tx *gorm.DB) error {
			_, err := stock.SetSellable(ctx, tx, s.sku, s.location, s.sellable, "demo")
			return err
		}); err != nil {
			return err
		}
	}
	if _, err := payment.CreditAccount(ctx, st.DB(ctx), "agent-1"); err != nil {
		var none *payment.CreditAccountNotFoundError
		if !errors.As(err, &none) {
			return err
		}
		if err := st.Tx(ctx, func(tx *gorm.DB) error {
			_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "CNY", demoCredit)
			return err
		}); err != nil {
			return err
		}
	}
	for _, o := range demoOrgs {
		if _, err := st.CreateOrg(ctx, o); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return err
		}
	}
	for _, p := range demoPrincipals {
		pr := p.principal
		pr.TokenHash = api.TokenHash(p.token)
		if err := st.CreatePrincipal(ctx, pr); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return err
		}
	}
	fmt.Fprintln(stdout, "demo data loaded: buyers alice (token demo-alice) and bob (demo-bob), agent agent-1 (demo-agent-1, credit line 100,000.00 CNY), operator ops (demo-ops)")
	return nil
}
