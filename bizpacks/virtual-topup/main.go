// Command virtual-topup is the bizpack of mobile top-ups (business identity
// virtual.topup, reference 000): nothing is shipped; once paid, the top-up
// is handed to an outside supplier over HTTP (fulfilment.dispatch, the
// order id as the supplier's request id) and the order waits in fulfilling
// until the supplier answers: at once, by a signed callback to the
// platform, or when fulfilment.query polls it. The order carries the phone
// number to top up as an order attribute, which the manifest declares
// (required, searchable). The supplier's URL is the bizpack's env
// TOPUP_SUPPLIER_URL, and the manifest asks for the network; package
// supplier holds a sandbox supplier for tests and demos.
//
// It implements delivery.required (never), order.validate (the phone
// number must be one the bizpack can top up, see SupportedNumber),
// fulfilment.dispatch and fulfilment.query (see Supplier), and its manifest
// (bizpack.json) patches the lifecycle so that pay ends the order; the
// identity's fulfilment setting puts the fulfilling step in. The daily top-up limit per account is a purchase limit of
// the platform, configured for the identity (see config.yaml). Build it with
//
//	go build -o bin/virtual-topup ./bizpacks/virtual-topup
//
// and see README.md for binding it to an identity.
package main

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

//go:embed bizpack.json
var manifestJSON []byte

func main() { plugin.Serve(newBizpack()) }

// newBizpack builds the bizpack from the embedded manifest. It is
// compiled in, so a manifest that does not parse is a mistake of the
// build: newBizpack panics with the reason.
func newBizpack() *extensions.Bizpack {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		panic(fmt.Sprintf("virtual-topup: bizpack.json: %v", err))
	}
	b := extensions.New(m)
	extensions.Implement(b, extensions.DeliveryRequired, NoDelivery)
	extensions.Implement(b, extensions.OrderValidate, SupportedNumber)
	sup := supplierFromEnv()
	extensions.Implement(b, extensions.FulfilmentDispatch, sup.Dispatch)
	extensions.Implement(b, extensions.FulfilmentQuery, sup.Query)
	return b
}

// NoDelivery is the bizpack's delivery.required: a top-up is credited to the
// phone account, nothing is shipped, so the answer is always
// {required: false}. It fails only when ctx is already done.
func NoDelivery(ctx context.Context, _ extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
	if err := ctx.Err(); err != nil {
		return extensions.DeliveryRequirement{}, err
	}
	return extensions.DeliveryRequirement{Required: false}, nil
}

var _ func(context.Context, extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) = NoDelivery
