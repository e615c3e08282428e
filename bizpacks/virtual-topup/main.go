// Command virtual-topup is the bizpack of mobile top-ups (business identity
// virtual.topup, reference 000): nothing is shipped, an order is fulfilled
// as soon as it is paid, and each account may top up at most a daily limit.
//
// It implements delivery.required (never) and order.guard (the daily limit,
// see DailyLimit), and its manifest (bizpack.json) patches the lifecycle so
// that pay leads straight to completed. Build it with
//
//	go build -o bin/virtual-topup ./bizpacks/virtual-topup
//
// and see README.md for binding it to an identity.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

//go:embed bizpack.json
var manifestJSON []byte

func main() { plugin.Serve(newBizpack()) }

// settings are what newBizpack builds from: the compiled-in configuration
// and the clock, which tests replace.
type settings struct {
	config Config
	now    func() time.Time
}

// option changes the settings of newBizpack.
type option func(*settings)

// withConfig replaces DefaultConfig.
func withConfig(c Config) option { return func(s *settings) { s.config = c } }

// withClock replaces time.Now, so that a test can move across a UTC day.
func withClock(now func() time.Time) option { return func(s *settings) { s.now = now } }

// newBizpack builds the bizpack from the embedded manifest and
// DefaultConfig, as changed by opts. Both are compiled in, so a manifest
// that does not parse or a configuration that does not validate is a
// mistake of the build: newBizpack panics with the reason.
func newBizpack(opts ...option) *extensions.Bizpack {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		panic(fmt.Sprintf("virtual-topup: bizpack.json: %v", err))
	}
	s := settings{config: DefaultConfig(), now: time.Now}
	for _, o := range opts {
		o(&s)
	}
	limit, err := NewDailyLimit(s.config, s.now)
	if err != nil {
		panic(fmt.Sprintf("virtual-topup: %v", err))
	}
	b := extensions.New(m)
	extensions.Implement(b, extensions.DeliveryRequired, NoDelivery)
	extensions.Implement(b, extensions.OrderGuard, limit.Guard)
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
