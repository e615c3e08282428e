package main

import (
	"reflect"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

const identity = "b2b"

func TestManifest(t *testing.T) {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		t.Fatalf("bizpack.json does not parse: %v", err)
	}
	if err := newBizpack().Err(); err != nil {
		t.Fatalf("bizpack does not check: %v", err)
	}
	if m.Lifecycle == nil {
		t.Fatal("the manifest has no lifecycle patch")
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			got := r.Manifest()
			if got.Lifecycle == nil {
				t.Fatal("the bizpack reports no lifecycle patch")
			}
			l := got.Lifecycle
			events := map[string]extensions.LifecycleEvent{}
			for _, e := range l.AddEvents {
				events[e.Name] = e
			}
			cases := []struct {
				field     string
				got, want any
			}{
				{"name", got.Name, "b2b-distribution"},
				{"identities", got.Identities, []string{identity}},
				{"points", got.Points, []extensions.PointTypes{
					{Point: extensions.PricingAdjust, Request: "PriceSheet", Response: "PriceSheet"},
					{Point: extensions.OrderValidate, Request: "ValidateRequest", Response: "Verdict"},
				}},
				{"protocol", got.Protocol, "1.3"},
				{"added states", len(l.AddStates), 1},
				{"added state", l.AddStates[0].Name, "pending_finance_review"},
				{"added state is not terminal", l.AddStates[0].Terminal, false},
				{"added state is documented", l.AddStates[0].Doc != "", true},
				{"retarget", l.Retarget, map[string]string{"approve": "pending_finance_review"}},
				{"added events", len(l.AddEvents), 2},
				{"finance_approve from", events["finance_approve"].From, []string{"pending_finance_review"}},
				{"finance_approve to", events["finance_approve"].To, "pending_outbound"},
				{"finance_reject from", events["finance_reject"].From, []string{"pending_finance_review"}},
				{"finance_reject to", events["finance_reject"].To, "rejected"},
				// cancel is left alone: the patch cannot add a From to it
				// (see README.md).
				{"removed events", l.RemoveEvents, []string(nil)},
				{"removed states", l.RemoveStates, []string(nil)},
			}
			for _, c := range cases {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	with := func(change func(*Config)) Config {
		c := DefaultConfig()
		change(&c)
		return c
	}
	cases := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"default", DefaultConfig(), false},
		{"no tiers", Config{Attr: "tier", DefaultCreditLimit: 0}, false},
		{"free tier", with(func(c *Config) { c.Tiers = map[string]Tier{"staff": {DiscountBP: 10000}} }), false},
		{"blank attribute", with(func(c *Config) { c.Attr = " " }), true},
		{"blank tier name", with(func(c *Config) { c.Tiers = map[string]Tier{"": {DiscountBP: 100}} }), true},
		{"discount above 100%", with(func(c *Config) { c.Tiers = map[string]Tier{"x": {DiscountBP: 10001}} }), true},
		{"negative discount", with(func(c *Config) { c.Tiers = map[string]Tier{"x": {DiscountBP: -1}} }), true},
		{"negative tier limit", with(func(c *Config) { c.Tiers = map[string]Tier{"x": {CreditLimit: -1}} }), true},
		{"negative default limit", with(func(c *Config) { c.DefaultCreditLimit = -1 }), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTiers(c.cfg)
			if (err != nil) != c.wantErr {
				t.Fatalf("NewTiers error = %v, want error %v", err, c.wantErr)
			}
		})
	}
	d := DefaultConfig()
	if d.Attr != "tier" || d.Tiers["gold"] != (Tier{1500, 1_000_000}) || d.Tiers["silver"] != (Tier{800, 300_000}) ||
		len(d.Tiers) != 2 || d.DefaultCreditLimit != 100_000 {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

func TestNewTiersCopiesTheTable(t *testing.T) {
	cfg := DefaultConfig()
	tiers, err := NewTiers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tiers["gold"] = Tier{DiscountBP: 9999}
	if _, tier, _ := tiers.tierOf(extensions.Buyer{Attrs: map[string]string{"tier": "gold"}}); tier.DiscountBP != 1500 {
		t.Errorf("changing the config after NewTiers changed the tiers: gold = %+v", tier)
	}
}
