package kernel

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// Config is one revision of the platform's configuration: the business
// identities, what each enables and binds, and how requests resolve to them.
type Config struct {
	// Revision numbers the configuration; plans report it.
	Revision   int64           `json:"revision"`
	Identities []IdentitySpec  `json:"identities"`
	Rules      []identity.Rule `json:"rules,omitempty"`
}

// IdentitySpec configures one business identity. Unset fields are inherited
// from the nearest configured ancestor.
type IdentitySpec struct {
	Code identity.Code `json:"code"`
	Name string        `json:"name,omitempty"`
	// Disabled identities are not resolved and cannot begin operations.
	Disabled bool `json:"disabled,omitempty"`
	// Products enabled; empty inherits the parent's products.
	Products []ProductRef `json:"products,omitempty"`
	// Bizpacks bound. Per point, the nearest identity in the chain whose
	// bound bizpacks implement the point supplies the bizpack layer.
	Bizpacks []BizpackRef `json:"bizpacks,omitempty"`
	// PaymentTimeout of unpaid orders; zero inherits.
	PaymentTimeout Duration `json:"paymentTimeout,omitempty"`
	// ReturnWindow is how long after its goods arrived a buyer may open a
	// return of an order; zero inherits.
	ReturnWindow Duration `json:"returnWindow,omitempty"`
	// LifecyclePatch shapes the identity's graph last, after products and
	// bizpacks.
	LifecyclePatch *lifecycle.Patch `json:"lifecyclePatch,omitempty"`
	// PurchaseLimits cap what one buyer buys of the identity's orders (see
	// PurchaseLimit); they bind the identity's descendants too.
	PurchaseLimits []PurchaseLimit `json:"purchaseLimits,omitempty"`
	// Fulfilment hands the identity's paid orders to a supplier (see
	// FulfilmentSpec); nil inherits, and nowhere set means fulfilled on
	// payment.
	Fulfilment *FulfilmentSpec `json:"fulfilment,omitempty"`
}

// ProductRef enables a product, optionally at another priority and with
// other arguments for its bindings.
type ProductRef struct {
	Name     string `json:"name"`
	Priority *int   `json:"priority,omitempty"`
	// Args replace, for this identity and the descendants that inherit its
	// products, the arguments of the product's binding at a point (keyed by
	// point name): an identity's freight template, its member prices. The
	// product must bind exactly one implementation at each point named, and
	// the arguments must satisfy that implementation's factory; otherwise
	// the configuration does not compile (bad_args).
	Args map[string]json.RawMessage `json:"args,omitempty"`
}

// BizpackRef binds a bizpack to an identity. Between two bizpacks of one
// identity, the higher priority runs first.
type BizpackRef struct {
	Name     string `json:"name"`
	Priority int    `json:"priority,omitempty"`
}

// DefaultPaymentTimeout applies when neither an identity nor its products set
// one.
const DefaultPaymentTimeout = 30 * time.Minute

// DefaultReturnWindow applies when neither an identity nor its products set
// a return window: seven days.
const DefaultReturnWindow = 168 * time.Hour

// Duration is a time.Duration written as "30m" in JSON and YAML.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "15m" or "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}
