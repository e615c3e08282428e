// Command flash-sale is the bizpack of a flash sale (business identity
// retail.flash, a child of retail): one unit per order, one order per
// buyer, and a short payment timeout so that unpaid units go back on sale
// quickly.
//
// It implements order.validate (one unit per order, see OneUnit); its
// manifest (bizpack.json) sets the payment timeout to two minutes. One
// order per buyer is a purchase limit of the platform, configured for the
// identity (see config.yaml), not state of the bizpack. The hot SKU's
// stock buckets are platform configuration, not the bizpack's (see
// README.md). Build it with
//
//	go build -o bin/flash-sale ./bizpacks/flash-sale
package main

import (
	_ "embed"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

//go:embed bizpack.json
var manifestJSON []byte

// version, when set at build time (-ldflags "-X main.version=1.0.1"),
// replaces the manifest's version: a way to build a second release of the
// same code, for trying a promotion and a rollback.
var version string

func main() { plugin.Serve(newBizpack()) }

// newBizpack builds the bizpack from the embedded manifest. The manifest is compiled in, so one that does not parse
// is a mistake of the build: newBizpack panics with the reason.
func newBizpack() *extensions.Bizpack {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		panic(fmt.Sprintf("flash-sale: bizpack.json: %v", err))
	}
	if version != "" {
		m.Version = version
	}
	b := extensions.New(m)
	extensions.Implement(b, extensions.OrderValidate, OneUnit)
	return b
}
