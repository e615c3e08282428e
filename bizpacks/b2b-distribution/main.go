// Command b2b-distribution is the bizpack of distribution to agents
// (business identity b2b, reference 004): agents of a tier pay tier prices,
// each order stays within the tier's credit limit, and a finance review
// follows the seller's approval.
//
// It implements pricing.adjust (tier prices, see Tiers.Adjust) and
// order.validate (the credit limit, see Tiers.Validate), and its manifest
// (bizpack.json) adds the pending_finance_review step to the lifecycle.
// Build it with
//
//	go build -o bin/b2b-distribution ./bizpacks/b2b-distribution
//
// and see README.md for binding it to an identity.
package main

import (
	_ "embed"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

//go:embed bizpack.json
var manifestJSON []byte

func main() { plugin.Serve(newBizpack()) }

// option changes the configuration newBizpack builds from.
type option func(*Config)

// withConfig replaces DefaultConfig.
func withConfig(c Config) option { return func(cfg *Config) { *cfg = c } }

// newBizpack builds the bizpack from the embedded manifest and
// DefaultConfig, as changed by opts. Both are compiled in, so a manifest
// that does not parse or a configuration that does not validate is a
// mistake of the build: newBizpack panics with the reason.
func newBizpack(opts ...option) *extensions.Bizpack {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		panic(fmt.Sprintf("b2b-distribution: bizpack.json: %v", err))
	}
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	tiers, err := NewTiers(cfg)
	if err != nil {
		panic(fmt.Sprintf("b2b-distribution: %v", err))
	}
	b := extensions.New(m)
	extensions.Implement(b, extensions.PricingAdjust, tiers.Adjust)
	extensions.Implement(b, extensions.OrderValidate, tiers.Validate)
	return b
}
