package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/products/b2bdistribution"
	"github.com/tmf-platform/tmf/products/standardretail"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

// productsConfig enables each built-in product for one identity, and gives
// virtual.topup a child with no configuration of its own.
func productsConfig() kernel.Config {
	enable := func(code identity.Code, product string) kernel.IdentitySpec {
		return kernel.IdentitySpec{Code: code, Products: []kernel.ProductRef{{Name: product}}}
	}
	return kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		enable("retail", standardretail.Name),
		enable("virtual.topup", virtualgoods.Name),
		{Code: "virtual.topup.mobile"},
		enable("b2b.agent", b2bdistribution.Name),
	}}
}

// productsKernel is a kernel over the built-in catalogue with cfg in force.
func productsKernel(t *testing.T, cfg kernel.Config) *kernel.Kernel {
	t.Helper()
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return k
}

func beginOp(t *testing.T, k *kernel.Kernel, code identity.Code) *kernel.Operation {
	t.Helper()
	op, err := k.Begin(context.Background(), code)
	if err != nil {
		t.Fatalf("begin %s: %v", code, err)
	}
	return op
}

// flowOrder is an order as a client submits it.
type flowOrder struct {
	buyer    extensions.Buyer
	lines    []extensions.Line // UnitPrice holds the list price
	shipping *extensions.Address
}

// flowAnswer is what the ordering flow learnt about an order.
type flowAnswer struct {
	decision    kernel.Decision
	prices      []int64 // unit prices after pricing.adjust
	adjustments []string
	subtotal    int64
	discount    int64
	shipped     bool
	freight     *extensions.Freight // nil when delivery was not required
	total       int64
	methods     []string
}

// runOrderFlow drives the order flow of DESIGN.md through the operation's
// plan, calling the points in order: validate, price, promotions (there are
// no candidates), delivery, freight if shipped, payment methods. It stops
// after a veto.
func runOrderFlow(t *testing.T, op *kernel.Operation, o flowOrder) flowAnswer {
	t.Helper()
	biz := string(op.Identity())
	var a flowAnswer
	d, err := order.Validate.Call(op, extensions.ValidateRequest{BizCode: biz, Buyer: o.buyer, Lines: o.lines, Shipping: o.shipping})
	if err != nil {
		t.Fatalf("order.validate: %v", err)
	}
	if a.decision = d; !d.Allowed {
		return a
	}
	sheet, err := pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: biz, Buyer: o.buyer, Currency: "CNY", Lines: o.lines})
	if err != nil {
		t.Fatalf("pricing.adjust: %v", err)
	}
	for _, l := range sheet.Lines {
		a.prices = append(a.prices, l.UnitPrice)
		a.subtotal += l.UnitPrice * l.Quantity
	}
	a.adjustments = sheet.Adjustments
	subtotal := extensions.Money{Amount: a.subtotal, Currency: "CNY"}
	candidates, err := promotion.Candidates.Call(op, extensions.PromotionRequest{BizCode: biz, Buyer: o.buyer, Lines: sheet.Lines, Subtotal: subtotal})
	if err != nil || len(candidates) != 0 {
		t.Fatalf("promotion.candidates = %v, %v; want none", candidates, err)
	}
	stack, err := promotion.Stack.Call(op, extensions.StackRequest{
		Order: extensions.PromotionRequest{BizCode: biz, Buyer: o.buyer, Lines: sheet.Lines, Subtotal: subtotal}})
	if err != nil {
		t.Fatalf("promotion.stack: %v", err)
	}
	a.discount = stack.Discount
	dreq := extensions.DeliveryRequest{BizCode: biz, Shipping: o.shipping, Lines: sheet.Lines,
		Subtotal: extensions.Money{Amount: a.subtotal - a.discount, Currency: "CNY"}}
	need, err := delivery.Required.Call(op, dreq)
	if err != nil {
		t.Fatalf("delivery.required: %v", err)
	}
	a.shipped = need.Required
	a.total = a.subtotal - a.discount
	if need.Required {
		f, err := delivery.Freight.Call(op, dreq)
		if err != nil {
			t.Fatalf("delivery.freight: %v", err)
		}
		a.freight, a.total = &f, a.total+f.Amount
	}
	methods, err := payment.Methods.Call(op, extensions.PaymentMethodsRequest{BizCode: biz, Buyer: o.buyer,
		Total: extensions.Money{Amount: a.total, Currency: "CNY"}})
	if err != nil {
		t.Fatalf("payment.methods: %v", err)
	}
	a.methods = methods.Methods
	return a
}

// lifecycleStep fires one event and says what must follow.
type lifecycleStep struct {
	event string
	data  map[string]string
	// state after the step: the new state, or the unchanged one when refused.
	state string
	// refused is "" when the event must succeed, "not_allowed" when the
	// state must not allow it, or the veto code of the guard that must
	// refuse it.
	refused string
	// guard names the implementation that must veto.
	guard string
}

// walkOrder fires steps in turn on one order through order.Fire, committing
// by bumping the order's version. After each step it checks the state, that
// commit ran exactly when the event succeeded, the refusal's kind, and that
// Allowed(state) is what the compiled graph says.
func walkOrder(t *testing.T, op *kernel.Operation, o *order.Snapshot, steps []lifecycleStep, allowed map[string][]string) {
	t.Helper()
	lc := op.Plan().Lifecycle()
	for i, s := range steps {
		commits := 0
		commit := func(_ context.Context, tr lifecycle.Transition) error {
			commits++
			if tr.Version != o.Version || tr.From != o.State {
				t.Errorf("step %d (%s): commit of %+v for the order at %s v%d", i, s.event, tr, o.State, o.Version)
			}
			return nil
		}
		before := o.State
		tr, err := order.Fire(op, *o, order.Event{Name: s.event, Actor: "test", Data: s.data}, commit)
		switch s.refused {
		case "":
			if err != nil {
				t.Fatalf("step %d: %s from %s: %v", i, s.event, before, err)
			}
			if commits != 1 || tr.From != before || tr.To != s.state {
				t.Fatalf("step %d: %s moved %s → %s with %d commits; want → %s, 1 commit", i, s.event, tr.From, tr.To, commits, s.state)
			}
			o.State, o.Version = tr.To, o.Version+1
		case "not_allowed":
			var na *lifecycle.EventNotAllowedError
			if !errors.As(err, &na) || na.State != before || na.Event != s.event || !slices.Equal(na.Allowed, lc.Allowed(before)) {
				t.Fatalf("step %d: %s in %s: err = %v; want *lifecycle.EventNotAllowedError listing %v", i, s.event, before, err, lc.Allowed(before))
			}
		default:
			var veto *lifecycle.VetoError
			if !errors.As(err, &veto) || veto.Code != s.refused || veto.Guard != s.guard {
				t.Fatalf("step %d: %s in %s: err = %v; want a veto %s by %s", i, s.event, before, err, s.refused, s.guard)
			}
		}
		if s.refused != "" && commits != 0 {
			t.Fatalf("step %d: refused %s committed", i, s.event)
		}
		if o.State != s.state {
			t.Fatalf("step %d: %s: state %s, want %s", i, s.event, o.State, s.state)
		}
		if got, want := lc.Allowed(o.State), allowed[o.State]; !slices.Equal(got, want) {
			t.Fatalf("step %d: allowed in %s = %v, want %v", i, o.State, got, want)
		}
		if lc.IsTerminal(o.State) != (len(allowed[o.State]) == 0) {
			t.Fatalf("step %d: %s terminal = %v", i, o.State, lc.IsTerminal(o.State))
		}
	}
}

// wantCall is a trace record the flow must contain.
type wantCall struct {
	point, impl, source string
	outcome             kernel.Outcome
}

// checkTrace asserts that the calls appear in the trace in this order (other
// calls may come between), each from the layer its source implies and with
// the origin given.
func checkTrace(t *testing.T, trace []kernel.Record, origin identity.Code, calls ...wantCall) {
	t.Helper()
	i := 0
	for _, r := range trace {
		if i == len(calls) {
			break
		}
		c := calls[i]
		if r.Point != c.point || r.Impl != c.impl {
			continue
		}
		wantLayer, wantOrigin := kernel.LayerProduct, origin
		if c.source == "platform" {
			wantLayer, wantOrigin = kernel.LayerDefault, identity.Root
		}
		if r.Source != c.source || r.Layer != wantLayer || r.Origin != wantOrigin || r.Outcome != c.outcome || r.Version == "" {
			t.Fatalf("trace record %+v; want source %s, layer %s, origin %q, outcome %s, a version", r, c.source, wantLayer, wantOrigin, c.outcome)
		}
		i++
	}
	if i < len(calls) {
		var got []string
		for _, r := range trace {
			got = append(got, r.Point+" "+r.Impl+" "+r.Outcome.String())
		}
		t.Fatalf("trace lacks %s %s (%s) in order; trace:\n%s", calls[i].point, calls[i].impl, calls[i].outcome, strings.Join(got, "\n"))
	}
}

var (
	retailAllowed = map[string][]string{
		lifecycle.Created:         {"cancel", "place"},
		lifecycle.PendingPayment:  {"cancel", "pay", "payment_fail", "payment_timeout"},
		lifecycle.PendingOutbound: {"cancel", "outbound_fail", "ship"},
		lifecycle.PendingInbound:  {"inbound_fail", "receive"},
	}
	virtualAllowed = map[string][]string{
		lifecycle.Created:        {"cancel", "place"},
		lifecycle.PendingPayment: {"cancel", "pay", "payment_fail", "payment_timeout"},
	}
	b2bAllowed = map[string][]string{
		lifecycle.Created:         {"cancel", "place"},
		lifecycle.PendingPayment:  {"cancel", "pay", "payment_fail", "payment_timeout"},
		lifecycle.PendingReview:   {"approve", "cancel", "reject"},
		lifecycle.PendingOutbound: {"cancel", "outbound_fail", "ship"},
		lifecycle.PendingInbound:  {"inbound_fail", "receive"},
	}
)

func TestStandardRetailEndToEnd(t *testing.T) {
	t.Parallel()
	k := productsKernel(t, productsConfig())
	plan, _ := k.Plans().Plan("retail")
	if got := plan.Products(); !slices.Equal(got, []string{standardretail.Name}) {
		t.Fatalf("products = %v", got)
	}
	if plan.PaymentTimeout() != 30*time.Minute || plan.Lifecycle().Graph().Name != "retail" {
		t.Fatalf("timeout %v, graph %q", plan.PaymentTimeout(), plan.Lifecycle().Graph().Name)
	}
	shanghai := &extensions.Address{Region: "CN-31", City: "Shanghai"}
	buyer := extensions.Buyer{ID: "u-1"}
	kettle := extensions.Line{SKU: "kettle", Quantity: 1, WeightGrams: 1800, UnitPrice: 4500}
	mugs := extensions.Line{SKU: "mug", Quantity: 2, WeightGrams: 350, UnitPrice: 1200}

	for _, tc := range []struct {
		name     string
		order    flowOrder
		denyCode string
		denyBy   string
		freight  int64
		total    int64
	}{
		// 1800 + 2 × 350 = 2500 g: the first kilogram and two started ones.
		{"2.5 kg under the free threshold", flowOrder{buyer, []extensions.Line{kettle, mugs}, shanghai}, "", "", 800 + 2*200, 6900 + 1200},
		{"free from 99.00", flowOrder{buyer, []extensions.Line{kettle, mugs, {SKU: "teapot", Quantity: 1, WeightGrams: 600, UnitPrice: 3000}}, shanghai},
			"", "", 0, 9900},
		{"a gift card rides along weightless", flowOrder{buyer, []extensions.Line{{SKU: "mug", Quantity: 1, WeightGrams: 350, UnitPrice: 1200},
			{SKU: "gift-card", Quantity: 1, WeightGrams: 4000, Virtual: true, UnitPrice: 5000}}, shanghai}, "", "", 800, 6200 + 800},
		{"no region", flowOrder{buyer, []extensions.Line{kettle}, &extensions.Address{City: "Shanghai"}},
			"address_required", standardretail.ImplShippingAddress, 0, 0},
		{"platform basics still apply", flowOrder{buyer, []extensions.Line{kettle, kettle}, shanghai},
			"duplicate_line", "order.basic", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := beginOp(t, k, "retail")
			a := runOrderFlow(t, op, tc.order)
			if tc.denyCode != "" {
				if a.decision.Allowed || a.decision.Code != tc.denyCode || a.decision.By != tc.denyBy {
					t.Fatalf("decision = %+v; want %s by %s", a.decision, tc.denyCode, tc.denyBy)
				}
				return
			}
			if !a.decision.Allowed || !a.shipped || a.freight == nil {
				t.Fatalf("answer = %+v; want allowed and shipped", a)
			}
			if a.freight.Amount != tc.freight || a.freight.Template != standardretail.DefaultTemplateName || a.total != tc.total {
				t.Fatalf("freight %+v, total %d; want %d, %d", *a.freight, a.total, tc.freight, tc.total)
			}
			if len(a.adjustments) != 0 || !slices.Equal(a.methods, []string{"card", "cod"}) {
				t.Fatalf("adjustments %v, methods %v", a.adjustments, a.methods)
			}
			checkTrace(t, op.Trace(), "retail",
				wantCall{"order.validate", standardretail.ImplShippingAddress, standardretail.Name, kernel.OutcomeOK},
				wantCall{"order.validate", "order.basic", "platform", kernel.OutcomeOK},
				wantCall{"pricing.adjust", "pricing.list-price", "platform", kernel.OutcomeOK},
				wantCall{"delivery.required", "delivery.physical-lines", "platform", kernel.OutcomeOK},
				wantCall{"delivery.freight", standardretail.ImplFreight, standardretail.Name, kernel.OutcomeOK},
				wantCall{"payment.methods", standardretail.ImplMethods, standardretail.Name, kernel.OutcomeOK})
		})
	}

	t.Run("lifecycle to completed", func(t *testing.T) {
		t.Parallel()
		op := beginOp(t, k, "retail")
		o := &order.Snapshot{ID: "r-1", BizCode: "retail", BuyerID: "u-1", State: op.Plan().Lifecycle().Initial(), Version: 1}
		walkOrder(t, op, o, []lifecycleStep{
			{event: "pay", state: lifecycle.Created, refused: "not_allowed"},
			{event: "place", state: lifecycle.PendingPayment},
			{event: "approve", state: lifecycle.PendingPayment, refused: "not_allowed"}, // no review step
			{event: "pay", state: lifecycle.PendingOutbound},
			{event: "receive", state: lifecycle.PendingOutbound, refused: "not_allowed"},
			{event: "ship", state: lifecycle.PendingInbound},
			{event: "receive", state: lifecycle.Completed},
			{event: "cancel", state: lifecycle.Completed, refused: "not_allowed"},
		}, retailAllowed)
		if o.Version != 5 {
			t.Fatalf("version %d after four transitions from 1", o.Version)
		}
	})
	t.Run("unpaid order times out", func(t *testing.T) {
		t.Parallel()
		op := beginOp(t, k, "retail")
		o := &order.Snapshot{ID: "r-2", BizCode: "retail", BuyerID: "u-1", State: lifecycle.Created, Version: 1}
		walkOrder(t, op, o, []lifecycleStep{
			{event: "place", state: lifecycle.PendingPayment},
			{event: "payment_timeout", state: lifecycle.Cancelled},
		}, retailAllowed)
	})
	t.Run("the review states are gone", func(t *testing.T) {
		t.Parallel()
		var unknown *lifecycle.UnknownStateError
		if _, err := plan.Lifecycle().Machine(lifecycle.PendingReview); !errors.As(err, &unknown) {
			t.Fatalf("machine at pending_review: %v", err)
		}
	})
}

func TestVirtualGoodsEndToEnd(t *testing.T) {
	t.Parallel()
	k := productsKernel(t, productsConfig())
	topup := func(q int64) extensions.Line {
		return extensions.Line{SKU: "topup-cmcc-50", Quantity: q, Virtual: true, UnitPrice: 4980}
	}
	buyer := extensions.Buyer{ID: "u-2"}
	// The child has no configuration of its own: it must behave as its parent.
	for _, code := range []identity.Code{"virtual.topup", "virtual.topup.mobile"} {
		t.Run(string(code), func(t *testing.T) {
			t.Parallel()
			plan, ok := k.Plans().Plan(code)
			if !ok {
				t.Fatalf("no plan for %s", code)
			}
			if !slices.Equal(plan.Products(), []string{virtualgoods.Name}) || plan.PaymentTimeout() != 15*time.Minute ||
				plan.Lifecycle().Graph().Name != "virtual" {
				t.Fatalf("products %v, timeout %v, graph %q", plan.Products(), plan.PaymentTimeout(), plan.Lifecycle().Graph().Name)
			}
			for _, tc := range []struct {
				name     string
				lines    []extensions.Line
				denyCode string
				denyBy   string
				total    int64
			}{
				{"two top-ups", []extensions.Line{topup(2)}, "", "", 9960},
				{"at the quantity limit", []extensions.Line{topup(10)}, "", "", 49800},
				{"above the quantity limit", []extensions.Line{topup(11)}, "quantity_limit", virtualgoods.ImplVirtualOnly, 0},
				{"a physical line", []extensions.Line{topup(1), {SKU: "sim-card", Quantity: 1, WeightGrams: 5, UnitPrice: 100}},
					"physical_line", virtualgoods.ImplVirtualOnly, 0},
				{"platform basics still apply", []extensions.Line{topup(0)}, "bad_quantity", "order.basic", 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					op := beginOp(t, k, code)
					a := runOrderFlow(t, op, flowOrder{buyer: buyer, lines: tc.lines})
					if tc.denyCode != "" {
						if a.decision.Allowed || a.decision.Code != tc.denyCode || a.decision.By != tc.denyBy ||
							a.decision.Source != virtualgoods.Name && tc.denyBy != "order.basic" {
							t.Fatalf("decision = %+v; want %s by %s", a.decision, tc.denyCode, tc.denyBy)
						}
						return
					}
					if !a.decision.Allowed || a.shipped || a.freight != nil || a.total != tc.total {
						t.Fatalf("answer = %+v; want allowed, not shipped, no freight, total %d", a, tc.total)
					}
					if !slices.Equal(a.methods, []string{"card", "balance"}) {
						t.Fatalf("methods = %v", a.methods)
					}
					// Asked anyway, freight is explicitly nothing.
					f, err := delivery.Freight.Call(op, extensions.DeliveryRequest{BizCode: string(code), Lines: tc.lines})
					if err != nil || f.Amount != 0 || f.Template != virtualgoods.ImplNoFreight {
						t.Fatalf("freight = %+v, %v", f, err)
					}
					checkTrace(t, op.Trace(), "virtual.topup",
						wantCall{"order.validate", virtualgoods.ImplVirtualOnly, virtualgoods.Name, kernel.OutcomeOK},
						wantCall{"delivery.required", virtualgoods.ImplNoDelivery, virtualgoods.Name, kernel.OutcomeOK},
						wantCall{"payment.methods", virtualgoods.ImplMethods, virtualgoods.Name, kernel.OutcomeOK},
						wantCall{"delivery.freight", virtualgoods.ImplNoFreight, virtualgoods.Name, kernel.OutcomeOK})
					for _, r := range op.Trace() {
						if r.Impl == "delivery.physical-lines" {
							t.Fatal("the platform's delivery.required ran under virtual-goods")
						}
					}
				})
			}
			t.Run("fulfilled on payment", func(t *testing.T) {
				t.Parallel()
				op := beginOp(t, k, code)
				o := &order.Snapshot{ID: "v-1", BizCode: string(code), BuyerID: "u-2", State: lifecycle.Created, Version: 1}
				walkOrder(t, op, o, []lifecycleStep{
					{event: "place", state: lifecycle.PendingPayment},
					{event: "ship", state: lifecycle.PendingPayment, refused: "not_allowed"},
					{event: "approve", state: lifecycle.PendingPayment, refused: "not_allowed"},
					{event: "pay", state: lifecycle.Completed},
					{event: "receive", state: lifecycle.Completed, refused: "not_allowed"},
				}, virtualAllowed)
			})
			t.Run("payment fails", func(t *testing.T) {
				t.Parallel()
				op := beginOp(t, k, code)
				o := &order.Snapshot{ID: "v-2", BizCode: string(code), BuyerID: "u-2", State: lifecycle.Created, Version: 1}
				walkOrder(t, op, o, []lifecycleStep{
					{event: "place", state: lifecycle.PendingPayment},
					{event: "payment_fail", state: lifecycle.PaymentFailed},
					{event: "pay", state: lifecycle.PaymentFailed, refused: "not_allowed"},
				}, virtualAllowed)
			})
		})
	}
}

func TestB2BDistributionEndToEnd(t *testing.T) {
	t.Parallel()
	k := productsKernel(t, productsConfig())
	plan, _ := k.Plans().Plan("b2b.agent")
	if !slices.Equal(plan.Products(), []string{b2bdistribution.Name}) || plan.PaymentTimeout() != 2*time.Hour ||
		plan.Lifecycle().Graph().Name != lifecycle.Default().Name {
		t.Fatalf("products %v, timeout %v, graph %q", plan.Products(), plan.PaymentTimeout(), plan.Lifecycle().Graph().Name)
	}
	lines := []extensions.Line{
		{SKU: "phone-x", Quantity: 12, WeightGrams: 400, UnitPrice: 199900},
		{SKU: "charger", Quantity: 6, WeightGrams: 100, UnitPrice: 1999},
	}
	warehouse := &extensions.Address{Region: "CN-44"}
	for _, tc := range []struct {
		name        string
		attrs       map[string]string
		prices      []int64
		adjustments []string
		tier        kernel.Outcome
	}{
		// 199900 × 0.9 = 179910; 1999 × 0.9 = 1799.1 → 1799.
		{"first-tier agent", map[string]string{"agentLevel": "1"}, []int64{179910, 1799}, []string{"tier-price:1"}, kernel.OutcomeOK},
		// 199900 × 0.95 = 189905; 1999 × 0.95 = 1899.05 → 1899.
		{"second-tier agent", map[string]string{"agentLevel": "2"}, []int64{189905, 1899}, []string{"tier-price:2"}, kernel.OutcomeOK},
		{"agent of an unpriced tier", map[string]string{"agentLevel": "3"}, []int64{199900, 1999}, nil, kernel.OutcomeSkip},
		{"buyer without a level", nil, []int64{199900, 1999}, nil, kernel.OutcomeSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := beginOp(t, k, "b2b.agent")
			in := slices.Clone(lines)
			a := runOrderFlow(t, op, flowOrder{buyer: extensions.Buyer{ID: "agent-7", Attrs: tc.attrs}, lines: in, shipping: warehouse})
			if !slices.Equal(in, lines) {
				t.Fatalf("pricing changed the caller's lines: %v", in)
			}
			if !a.decision.Allowed || !slices.Equal(a.prices, tc.prices) || !slices.Equal(a.adjustments, tc.adjustments) {
				t.Fatalf("answer = %+v; want prices %v, adjustments %v", a, tc.prices, tc.adjustments)
			}
			subtotal := 12*tc.prices[0] + 6*tc.prices[1]
			if !a.shipped || a.freight == nil || a.freight.Amount != 0 || a.total != subtotal {
				t.Fatalf("shipped %v, freight %+v, total %d; want shipped free, %d", a.shipped, a.freight, a.total, subtotal)
			}
			if !slices.Equal(a.methods, []string{"agent_credit"}) {
				t.Fatalf("methods = %v", a.methods)
			}
			checkTrace(t, op.Trace(), "b2b.agent",
				wantCall{"order.validate", b2bdistribution.ImplCasePack, b2bdistribution.Name, kernel.OutcomeOK},
				wantCall{"pricing.adjust", "pricing.list-price", "platform", kernel.OutcomeOK},
				wantCall{"pricing.adjust", b2bdistribution.ImplTierPrice, b2bdistribution.Name, tc.tier},
				wantCall{"delivery.freight", "delivery.free", "platform", kernel.OutcomeOK},
				wantCall{"payment.methods", b2bdistribution.ImplCredit, b2bdistribution.Name, kernel.OutcomeOK})
		})
	}

	review := b2bdistribution.ImplReview
	t.Run("review, outbound, inbound", func(t *testing.T) {
		t.Parallel()
		op := beginOp(t, k, "b2b.agent")
		o := &order.Snapshot{ID: "b-1", BizCode: "b2b.agent", BuyerID: "agent-7", State: lifecycle.Created, Version: 1,
			Total: extensions.Money{Amount: 2169714, Currency: "CNY"}}
		walkOrder(t, op, o, []lifecycleStep{
			{event: "place", state: lifecycle.PendingPayment},
			{event: "ship", state: lifecycle.PendingPayment, refused: "not_allowed"},
			{event: "pay", state: lifecycle.PendingReview},
			{event: "ship", state: lifecycle.PendingReview, refused: "not_allowed"},
			{event: "approve", state: lifecycle.PendingReview, refused: "reviewer_required", guard: review},
			{event: "approve", data: map[string]string{"reviewer": "agent-7"}, state: lifecycle.PendingReview, refused: "self_review", guard: review},
			{event: "approve", data: map[string]string{"reviewer": "brand-ops"}, state: lifecycle.PendingOutbound},
			{event: "ship", state: lifecycle.PendingInbound},
			{event: "receive", state: lifecycle.Completed},
		}, b2bAllowed)
		// The guard skipped every event but the review ones, vetoed twice, then allowed.
		var outcomes []string
		for _, r := range op.Trace() {
			if r.Point != "order.guard" {
				continue
			}
			if r.Impl != review || r.Source != b2bdistribution.Name || r.Layer != kernel.LayerProduct {
				t.Fatalf("order.guard record %+v", r)
			}
			outcomes = append(outcomes, r.Outcome.String())
		}
		if want := []string{"skip", "skip", "veto", "veto", "ok", "skip", "skip"}; !slices.Equal(outcomes, want) {
			t.Fatalf("guard outcomes = %v, want %v", outcomes, want)
		}
	})
	t.Run("rejected by review", func(t *testing.T) {
		t.Parallel()
		op := beginOp(t, k, "b2b.agent")
		o := &order.Snapshot{ID: "b-2", BizCode: "b2b.agent", BuyerID: "agent-7", State: lifecycle.PendingReview, Version: 3}
		walkOrder(t, op, o, []lifecycleStep{
			{event: "reject", data: map[string]string{"reviewer": " "}, state: lifecycle.PendingReview, refused: "reviewer_required", guard: review},
			{event: "reject", data: map[string]string{"reviewer": "agent-7"}, state: lifecycle.PendingReview, refused: "self_review", guard: review},
			{event: "reject", data: map[string]string{"reviewer": "brand-ops"}, state: lifecycle.Rejected},
			{event: "approve", data: map[string]string{"reviewer": "brand-ops"}, state: lifecycle.Rejected, refused: "not_allowed"},
		}, b2bAllowed)
	})
}

// An operator's product can bind a built-in implementation with its own
// arguments: here whole cases of six on top of b2b-distribution.
func TestCasePackReusedWithOtherArguments(t *testing.T) {
	t.Parallel()
	cat, reg, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddProduct(kernel.Product{Name: "b2b-cases", Version: "1", Priority: 10, Bindings: []kernel.Binding{
		{Point: "order.validate", Impl: b2bdistribution.ImplCasePack, Args: json.RawMessage(`{"caseSize": 6}`)}}}); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{{Code: "b2b.phones",
		Products: []kernel.ProductRef{{Name: b2bdistribution.Name}, {Name: "b2b-cases"}}}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		qty     int64
		allowed bool
	}{{"two cases", 12, true}, {"a broken case", 13, false}, {"less than a case", 5, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := beginOp(t, k, "b2b.phones")
			a := runOrderFlow(t, op, flowOrder{buyer: extensions.Buyer{ID: "agent-9"},
				lines: []extensions.Line{{SKU: "phone-x", Quantity: tc.qty, UnitPrice: 199900}}, shipping: &extensions.Address{Region: "CN-44"}})
			if a.decision.Allowed != tc.allowed || !tc.allowed && (a.decision.Code != "case_pack" || a.decision.Source != "b2b-cases") {
				t.Fatalf("decision = %+v; want allowed=%v (case_pack from b2b-cases)", a.decision, tc.allowed)
			}
		})
	}
}

// standard-retail and virtual-goods both bind delivery.freight and
// payment.methods ("first" points) and both set the lifecycle, all at
// priority 10: an identity enabling both is refused with every clash named,
// until one is given a higher priority.
func TestRetailAndVirtualClashAtOnePriority(t *testing.T) {
	t.Parallel()
	k := productsKernel(t, productsConfig())
	mixed := func(refs ...kernel.ProductRef) kernel.Config {
		cfg := productsConfig()
		cfg.Revision = 2
		cfg.Identities = append(cfg.Identities, kernel.IdentitySpec{Code: "mall", Products: refs})
		return cfg
	}

	_, err := k.Apply(mixed(kernel.ProductRef{Name: standardretail.Name}, kernel.ProductRef{Name: virtualgoods.Name}))
	var ce *kernel.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *kernel.ConfigError", err)
	}
	conflicts := map[string]string{} // point ("" for the lifecycle) → message
	for _, p := range ce.Problems {
		if p.Kind != "conflict" || p.Identity != "mall" {
			t.Errorf("unexpected problem %+v", p)
			continue
		}
		conflicts[p.Point] = p.Message
	}
	for point, mentions := range map[string][]string{
		"delivery.freight": {"product standard-retail binds standard-retail.freight",
			"product virtual-goods binds virtual-goods.no-freight", "priority 10"},
		"payment.methods": {"standard-retail.methods", "virtual-goods.methods", "priority 10"},
		"":                {"standard-retail", "virtual-goods", "both replace the lifecycle at priority 10"},
	} {
		msg, ok := conflicts[point]
		if !ok {
			t.Errorf("no conflict reported at %q; problems: %v", point, ce.Problems)
		}
		for _, m := range mentions {
			if !strings.Contains(msg, m) {
				t.Errorf("conflict %q does not mention %q", msg, m)
			}
		}
	}
	if len(conflicts) != 3 {
		t.Errorf("conflicts at %v, want delivery.freight, payment.methods and the lifecycle", conflicts)
	}
	if k.Plans().Revision() != 1 {
		t.Fatal("the refused configuration replaced the plans in force")
	}

	for _, tc := range []struct {
		raise, freightBy, graph string
		timeout                 time.Duration
		methods                 []string
	}{
		{virtualgoods.Name, virtualgoods.ImplNoFreight, "virtual", 15 * time.Minute, []string{"card", "balance"}},
		{standardretail.Name, standardretail.DefaultTemplateName, "retail", 30 * time.Minute, []string{"card", "cod"}},
	} {
		t.Run("raise "+tc.raise, func(t *testing.T) {
			other := virtualgoods.Name
			if tc.raise == virtualgoods.Name {
				other = standardretail.Name
			}
			set, err := k.Compile(mixed(kernel.ProductRef{Name: other}, kernel.ProductRef{Name: tc.raise, Priority: new(20)}))
			if err != nil {
				t.Fatalf("raising %s's priority did not fix the configuration: %v", tc.raise, err)
			}
			plan, _ := set.Plan("mall")
			if got := plan.Products(); !slices.Equal(got, []string{tc.raise, other}) {
				t.Fatalf("products = %v", got)
			}
			if plan.Lifecycle().Graph().Name != tc.graph || plan.PaymentTimeout() != tc.timeout {
				t.Fatalf("graph %q, timeout %v", plan.Lifecycle().Graph().Name, plan.PaymentTimeout())
			}
			op, err := set.Begin(context.Background(), "mall")
			if err != nil {
				t.Fatal(err)
			}
			req := extensions.DeliveryRequest{BizCode: "mall", Lines: []extensions.Line{{SKU: "mug", Quantity: 1, WeightGrams: 350}},
				Subtotal: extensions.Money{Amount: 1200, Currency: "CNY"}}
			if f, err := delivery.Freight.Call(op, req); err != nil || f.Template != tc.freightBy {
				t.Fatalf("freight = %+v, %v; want by %s", f, err, tc.freightBy)
			}
			if m, err := payment.Methods.Call(op, extensions.PaymentMethodsRequest{BizCode: "mall"}); err != nil || !slices.Equal(m.Methods, tc.methods) {
				t.Fatalf("methods = %v, %v; want %v", m.Methods, err, tc.methods)
			}
		})
	}
}

// Bad arguments in a binding of a built-in implementation are refused when
// the configuration compiles, naming the product and the argument.
func TestBuiltinFactoriesRefuseBadArgumentsAtCompile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, point, impl, args, mention string
	}{
		{"negative freight", "delivery.freight", standardretail.ImplFreight, `{"name":"t","basis":"weight","default":{"first":-800,"firstUnits":1000,"additional":200,"additionalUnits":1000}}`, "must not be negative"},
		{"unknown freight argument", "delivery.freight", standardretail.ImplFreight, `{"perKg": 200}`, `unknown field "perKg"`},
		{"tier price above list", "pricing.adjust", b2bdistribution.ImplTierPrice, `{"basisPoints": {"1": 12000}}`, "outside 0..10000"},
		{"zero case size", "order.validate", b2bdistribution.ImplCasePack, `{"caseSize": 0}`, "caseSize"},
		{"zero quantity limit", "order.validate", virtualgoods.ImplVirtualOnly, `{"maxQuantity": 0}`, "maxQuantity"},
		{"no payment methods", "payment.methods", virtualgoods.ImplMethods, `{"methods": []}`, "at least one"},
		{"arguments to an implementation without any", "order.guard", b2bdistribution.ImplReview, `{"strict": true}`, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat, reg, err := catalog.New()
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.AddProduct(kernel.Product{Name: "custom", Priority: 1, Bindings: []kernel.Binding{
				{Point: tc.point, Impl: tc.impl, Args: json.RawMessage(tc.args)}}}); err != nil {
				t.Fatal(err)
			}
			k, err := kernel.New(cat, reg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
				{Code: "shop", Products: []kernel.ProductRef{{Name: "custom"}}}}})
			var ce *kernel.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Kind != "bad_args" ||
				!strings.Contains(ce.Problems[0].Message, "custom") || !strings.Contains(ce.Problems[0].Message, tc.mention) {
				t.Fatalf("err = %v; want one bad_args problem naming custom and %q", err, tc.mention)
			}
		})
	}
}

// Every built-in product binds only implementations it brings, named after
// it, each documented and versioned, and enabling it alone compiles.
func TestBuiltinProductsAreWellFormed(t *testing.T) {
	t.Parallel()
	modules := catalog.Products()
	if len(modules) != 3 {
		t.Fatalf("%d built-in products, want 3", len(modules))
	}
	for _, m := range modules {
		t.Run(m.Product.Name, func(t *testing.T) {
			t.Parallel()
			p := m.Product
			if p.Version == "" || p.Doc == "" || p.Priority != 10 || p.PaymentTimeout <= 0 || p.Lifecycle == nil {
				t.Fatalf("product %+v", p)
			}
			brought := map[string]string{} // impl → point
			for _, im := range m.Implementations {
				if !strings.HasPrefix(im.Name, p.Name+".") || im.Version == "" || im.Doc == "" {
					t.Errorf("implementation %s (version %q, doc %q)", im.Name, im.Version, im.Doc)
				}
				brought[im.Name] = im.Point.Name
			}
			points := map[string]bool{}
			for _, b := range p.Bindings {
				if brought[b.Impl] != b.Point {
					t.Errorf("binding %s at %s: the product does not bring it for that point", b.Impl, b.Point)
				}
				if points[b.Point] {
					t.Errorf("two bindings at %s", b.Point)
				}
				points[b.Point] = true
			}
			if len(points) != len(brought) {
				t.Errorf("brings %d implementations, binds %d", len(brought), len(points))
			}
			k := productsKernel(t, kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
				{Code: "only", Products: []kernel.ProductRef{{Name: p.Name}}}}})
			plan, _ := k.Plans().Plan("only")
			if plan.PaymentTimeout() != p.PaymentTimeout {
				t.Errorf("timeout %v, want %v", plan.PaymentTimeout(), p.PaymentTimeout)
			}
			for _, pp := range plan.Describe() {
				for _, im := range pp.Impls {
					if im.Layer == "product" && (im.Source != p.Name || im.Priority != p.Priority || im.Origin != "only") {
						t.Errorf("%s: planned %+v", pp.Point, im)
					}
				}
			}
		})
	}
}
