package order

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// Outbox topics written by the service. A transition's topic is
// events.TransitionType of its event and target state (order.paid,
// order.cancelled, …); TopicTransition is the fallback for transitions
// no typed event names.
const (
	TopicPlaced     = events.OrderPlaced
	TopicTransition = events.OrderTransitioned
)

// MaxTransitionRetries is how often Fire reloads an order and tries again
// after a concurrent change, before answering with a version conflict.
const MaxTransitionRetries = 3

// Service places orders and moves them through their lifecycle. Each call is
// one kernel operation on one plan; every write is one local transaction
// (order, lines, history, stock moves, trace and outbox together).
type Service struct {
	kernel   *kernel.Kernel
	store    *store.Store
	payments *payment.Payments
	book     *promotion.Book
	now      func() time.Time
	lowStock int64 // the stock.low threshold (WithLowStock)
	stock    StockKeeper
}

// Option configures NewService.
type Option func(*Service)

// WithPayments sets the payments service card charges and refunds go
// through (the service sets its OnSettled to write payment events); the
// default charges the sandbox acquirer in the store's database.
func WithPayments(p *payment.Payments) Option { return func(s *Service) { s.payments = p } }

// WithPromotions sets the promotion book the kernel's promotion.candidates
// default reads, so that a promotion whose budget runs out is withdrawn
// from it at once.
func WithPromotions(b *promotion.Book) Option { return func(s *Service) { s.book = b } }

// NewService returns the order service.
func NewService(k *kernel.Kernel, st *store.Store, opts ...Option) *Service {
	s := &Service{kernel: k, store: st, now: time.Now, lowStock: stock.DefaultLowThreshold}
	for _, o := range opts {
		o(s)
	}
	if s.stock == nil {
		s.stock = localStock{st}
	}
	if s.payments == nil {
		s.payments = payment.NewPayments(payment.NewSandbox(st.DB(context.Background())), nil)
	}
	// Payments settled outside a transition leave their events with them.
	s.payments.OnSettled = s.paymentSettled
	return s
}

// SetClock replaces the service's clock (tests and the payment-timeout
// center's tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Idempotency identifies the idempotency record a placement completes, so
// that the stored answer is written in the order's own transaction.
type Idempotency struct {
	Principal string
	Key       string
}

// Place places an order: resolve the identity, validate, price, apply
// promotions, compute freight, choose a location, then persist the order,
// its lines, its first lifecycle transition, its trace and its outbox event
// together with the stock reservation in one transaction. A refusal is an
// *Error with a stable code; nothing is written then.
func (s *Service) Place(ctx context.Context, buyer Buyer, req PlaceRequest, idem *Idempotency) (View, error) {
	// A promotion whose budget ran out between pricing and the transaction
	// is withdrawn from the book and the order priced again; one whose
	// budget other orders took first is tried again as it stands; at most
	// maxRepricings times.
	const maxRepricings = 3
	for attempt := 0; ; attempt++ {
		v, err := s.placeOnce(ctx, buyer, req, idem)
		var exhausted *promotion.BudgetExhaustedError
		if attempt == maxRepricings || !errors.As(err, &exhausted) {
			return v, err
		}
		if !exhausted.Contended {
			// The budget is spent: withdraw the promotion (the book's next
			// refresh brings it back if it is topped up). Another order may
			// have withdrawn it already; this one was priced before that.
			if s.book == nil {
				return v, err
			}
			s.book.MarkExhausted(exhausted.PromotionID)
		}
		// Contended: other orders took the money first; the next try sees
		// what is left.
	}
}

func (s *Service) placeOnce(ctx context.Context, buyer Buyer, req PlaceRequest, idem *Idempotency) (View, error) {
	skus, err := s.skus(ctx, req.Items)
	if err != nil {
		return View{}, err
	}
	lines := make([]extensions.Line, len(req.Items))
	categories := make([]string, len(req.Items))
	currency := ""
	for i, it := range req.Items {
		sku := skus[it.SKU]
		if currency == "" {
			currency = sku.Currency
		} else if sku.Currency != currency {
			return View{}, refuse(CodeMixedCurrency, map[string]any{"sku": it.SKU},
				"SKU %s is priced in %s, the order in %s: one order has one currency", it.SKU, sku.Currency, currency)
		}
		lines[i] = extensions.Line{SKU: it.SKU, Quantity: it.Quantity, Category: sku.Category, WeightGrams: sku.WeightGrams,
			Virtual: sku.Virtual, UnitPrice: sku.Price}
		categories[i] = sku.Category
	}

	op, err := s.kernel.Resolve(ctx, identity.Request{BizCode: identity.Code(req.BizCode), Channel: req.Channel,
		Categories: categories, Buyer: buyer.Attrs})
	if de := (*kernel.DisabledError)(nil); errors.As(err, &de) {
		return View{}, &Error{Code: kernel.CodeIdentityDisabled, Message: err.Error(), Fields: map[string]any{"identity": string(de.Identity)}, Err: err}
	}
	if err != nil {
		return View{}, &Error{Code: CodeIdentity, Message: err.Error(), Err: err}
	}
	bizCode := string(op.Identity())
	exBuyer := extensions.Buyer{ID: buyer.ID, Attrs: buyer.Attrs}
	attrs, attrsJSON, attrsIndex, err := orderAttributes(op.Plan(), req.Attributes)
	if err != nil {
		return View{}, err
	}

	// The calls of each phase whose requests are ready together go to a
	// bizpack in one round trip (Prefetch); points served in process cost
	// nothing extra. Phase 1: the order as submitted.
	vreq := extensions.ValidateRequest{BizCode: bizCode, Channel: req.Channel, Buyer: exBuyer,
		Lines: lines, Coupons: req.Coupons, Shipping: req.ShippingAddress, Payment: req.PaymentMethod, Attributes: attrs}
	sheetIn := extensions.PriceSheet{BizCode: bizCode, Channel: req.Channel, Buyer: exBuyer, Currency: currency, Lines: slices.Clone(lines),
		Attributes: attrs}
	op.Prefetch(Validate.Ahead(vreq), pricing.Adjust.Ahead(sheetIn))
	d, err := Validate.Call(op, vreq)
	if err != nil {
		return View{}, err
	}
	if !d.Allowed {
		return View{}, refuse(CodeRejected, map[string]any{"reason": d.Code, "by": d.By}, "%s", d.Reason)
	}

	sheet, err := pricing.Adjust.Call(op, sheetIn)
	if err != nil {
		return View{}, err
	}
	priced, subtotal, err := checkPriced(lines, sheet.Lines)
	if err != nil {
		return View{}, err
	}
	money := func(a int64) extensions.Money { return extensions.Money{Amount: a, Currency: currency} }

	var couponPromotions map[string]string
	if len(req.Coupons) > 0 {
		if couponPromotions, err = promotion.CheckCoupons(ctx, s.store.DB(ctx), buyer.ID, req.Coupons, s.now()); err != nil {
			return View{}, couponError(err)
		}
	}
	promo := extensions.PromotionRequest{BizCode: bizCode, Channel: req.Channel, Buyer: exBuyer, Lines: priced,
		Coupons: req.Coupons, CouponPromotions: couponPromotions, Subtotal: money(subtotal), Attributes: attrs}
	rreq, err := s.routeRequest(ctx, bizCode, req, priced)
	if err != nil {
		return View{}, err
	}
	rreq.Attributes = attrs
	// Phase 2: the priced order.
	op.Prefetch(promotion.Candidates.Ahead(promo), stock.RouteWarehouse.Ahead(rreq))
	offers, err := promotion.Candidates.Call(op, promo)
	if err != nil {
		return View{}, err
	}
	var candidates []extensions.Candidate
	for _, o := range offers {
		candidates = append(candidates, o.Items...)
	}
	stack, err := promotion.Stack.Call(op, extensions.StackRequest{Order: promo, Candidates: candidates})
	if err != nil {
		return View{}, err
	}
	discount := min(max(stack.Discount, 0), subtotal)
	lineTotals := make([]int64, len(priced))
	for i, l := range priced {
		lineTotals[i] = l.UnitPrice * l.Quantity
	}
	lineDiscounts, err := pricing.Allocate(discount, lineTotals)
	if err != nil {
		return View{}, refuse(CodePricing, nil, "discount %d cannot be shared over the lines: %v", discount, err)
	}

	dreq := extensions.DeliveryRequest{BizCode: bizCode, Shipping: req.ShippingAddress, Lines: priced, Subtotal: money(subtotal - discount),
		Attributes: attrs}
	// Phase 3: the discounted order. Freight is asked along with whether
	// the order ships at all; its answer is dropped if it does not.
	ahead := []kernel.Pending{delivery.Required.Ahead(dreq)}
	if !stack.FreeShipping && req.ShippingAddress != nil {
		ahead = append(ahead, delivery.Freight.Ahead(dreq))
	}
	op.Prefetch(ahead...)
	need, err := delivery.Required.Call(op, dreq)
	if err != nil {
		return View{}, err
	}
	var freight int64
	if need.Required {
		if req.ShippingAddress == nil || strings.TrimSpace(req.ShippingAddress.Region) == "" {
			return View{}, refuse(CodeAddressRequired, nil, "this order ships: a shipping address with a region is required")
		}
		if !stack.FreeShipping {
			f, err := delivery.Freight.Call(op, dreq)
			if err != nil {
				return View{}, err
			}
			if f.Amount < 0 {
				return View{}, refuse(CodePricing, nil, "freight %d is negative", f.Amount)
			}
			freight = f.Amount
		}
	}
	total := subtotal - discount + freight
	if total < 0 || total < freight {
		return View{}, refuse(CodePricing, nil, "order total overflows")
	}

	methods, err := payment.Methods.Call(op, extensions.PaymentMethodsRequest{BizCode: bizCode, Buyer: exBuyer, Total: money(total),
		Attributes: attrs})
	if err != nil {
		return View{}, err
	}
	method := req.PaymentMethod
	if method == "" && len(methods.Methods) > 0 {
		method = methods.Methods[0]
	}
	if !slices.Contains(methods.Methods, method) {
		return View{}, refuse(CodePaymentUnavailable, map[string]any{"offered": methods.Methods},
			"payment method %q is not offered for this order; offered: %s", method, strings.Join(methods.Methods, ", "))
	}

	parts, err := s.parts(op, rreq, extensions.SplitRequest{BizCode: bizCode, Channel: req.Channel, Buyer: exBuyer, Lines: priced,
		Attributes: attrs})
	if err != nil {
		return View{}, err
	}
	location := parts[0].location
	if len(parts) > 1 {
		location = ""
	}

	now := s.now().UTC().Truncate(time.Microsecond)
	o := store.Order{ID: NewID(buyer.ID, now), BizCode: bizCode, BuyerID: buyer.ID, OwnerOrg: buyer.OwnerOrg,
		Channel: req.Channel, Currency: currency, Subtotal: subtotal, Discount: discount, Freight: freight, Total: total,
		PaymentMethod: method, Location: location, Version: 1, CreatedAt: now, UpdatedAt: now, Attributes: attrsJSON}
	if req.ShippingAddress != nil {
		b, _ := json.Marshal(req.ShippingAddress)
		o.Shipping = string(b)
	}
	reserve := stock.ReserveRequest{OrderID: o.ID, Location: location, Channel: req.Channel, BuyerID: buyer.ID}
	for i, l := range priced {
		o.Lines = append(o.Lines, store.OrderLine{OrderID: o.ID, LineNo: i + 1, SKU: l.SKU, Quantity: l.Quantity,
			ListPrice: lines[i].UnitPrice, UnitPrice: l.UnitPrice, LineTotal: lineTotals[i], Discount: lineDiscounts[i]})
		reserve.Lines = append(reserve.Lines, stock.LineQty{LineNo: i + 1, SKU: l.SKU, Quantity: l.Quantity})
	}
	steps := placeSteps(o, buyer.ID, stack.Applied)
	// Purchase limits and the attribute index are written first in the
	// order's transaction: a refusal there writes nothing.
	net := make([]int64, len(lines))
	for i := range lines {
		net[i] = lineTotals[i] - lineDiscounts[i]
	}
	claims, err := purchaseClaims(op.Plan().PurchaseLimits(), buyer, attrs, lines, net, lineOwners(o.ID, parts, len(lines)), currency, now)
	if err != nil {
		return View{}, err
	}
	if len(attrsIndex) > 0 {
		steps = append([]store.Step{indexStep(o.ID, attrsIndex)}, steps...)
	}
	if len(claims) > 0 {
		steps = append([]store.Step{claimStep(o.ID, claims, now)}, steps...)
	}

	plan := op.Plan()
	if len(parts) > 1 {
		return s.placeFamily(op, family{parent: o, parts: parts, applied: stack.Applied, steps: steps,
			buyer: buyer, attrs: attrs, idem: idem, now: now})
	}
	// Stock last: it is the hottest (and, in its own database, reserved
	// before this transaction and settled after it).
	hold, err := s.stock.Try(ctx, reserve)
	if err != nil {
		return View{}, s.placeError(err)
	}
	steps = append(steps, hold, s.levelEvents(o, reserve, stack.Applied))
	snap := Snapshot{ID: o.ID, BizCode: bizCode, BuyerID: buyer.ID, State: plan.Lifecycle().Initial(), Version: 0, Total: money(total),
		Attributes: attrs}
	var view View
	_, err = Fire(op, snap, Event{Name: lifecycle.EventPlace, Actor: buyer.ID}, func(ctx context.Context, t lifecycle.Transition) error {
		o.Status = t.To
		if t.To == lifecycle.PendingPayment {
			deadline := now.Add(plan.PaymentTimeout())
			o.PaymentDeadline = &deadline
		}
		view = viewOf(o, plan.Lifecycle())
		n := store.NewOrder{Order: o, Steps: steps,
			History: store.OrderHistory{OrderID: o.ID, Version: 1, Event: t.Event, FromState: t.From, ToState: t.To, Actor: buyer.ID, CreatedAt: now},
			Traces:  traces(o.ID, op.Trace()),
			Events:  append([]store.OutboxEvent{ofOrder(event(TopicPlaced, o.ID, view, now), o.BizCode, 1)}, couponEvents(o, stack.Applied)...)}
		if idem != nil {
			n.Idempotency = &store.IdempotencyResult{Principal: idem.Principal, Key: idem.Key, StatusCode: 201, Body: view.JSON()}
		}
		return s.store.CreateOrder(ctx, n)
	})
	s.stock.Finish(context.WithoutCancel(ctx), err == nil, o.ID)
	if err != nil {
		return View{}, s.placeError(err)
	}
	return view, nil
}

func (s *Service) placeError(err error) error {
	if e, ok := purchaseLimitError(err); ok {
		return e
	}
	var oos *stock.OutOfStockError
	if errors.As(err, &oos) {
		return &Error{Code: CodeOutOfStock, Message: fmt.Sprintf("SKU %s: not enough stock for %d", oos.SKU, oos.Requested),
			Fields: map[string]any{"sku": oos.SKU}, Err: err}
	}
	var expired *stock.ReservationError
	if errors.As(err, &expired) {
		return &Error{Code: CodeVersionConflict, Message: "the order's stock reservation expired before the order committed; place it again", Err: err}
	}
	if e := couponError(err); e != err {
		return e
	}
	if e := creditError(err); e != err {
		return e
	}
	return transitionError(err)
}

// skus loads the requested SKUs; unknown ones are refused together.
func (s *Service) skus(ctx context.Context, items []Item) (map[string]store.SKU, error) {
	if len(items) == 0 {
		return nil, refuse(CodeInvalid, nil, "an order needs at least one item")
	}
	names := make([]string, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		if it.Quantity <= 0 {
			return nil, refuse(CodeInvalid, map[string]any{"sku": it.SKU}, "item %s: quantity %d must be at least 1", it.SKU, it.Quantity)
		}
		if seen[it.SKU] {
			return nil, refuse(CodeInvalid, map[string]any{"sku": it.SKU}, "SKU %s appears on two items; send one item with the total quantity", it.SKU)
		}
		seen[it.SKU] = true
		names = append(names, it.SKU)
	}
	found, err := s.store.GetSKUs(ctx, names)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if _, ok := found[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, refuse(CodeSKUNotFound, map[string]any{"skus": missing}, "unknown SKU: %s", strings.Join(missing, ", "))
	}
	return found, nil
}

// checkPriced holds pricing.adjust to its contract: same lines, same
// quantities, non-negative prices, no overflow.
func checkPriced(in, out []extensions.Line) ([]extensions.Line, int64, error) {
	if len(out) != len(in) {
		return nil, 0, refuse(CodePricing, nil, "pricing.adjust returned %d lines for %d", len(out), len(in))
	}
	var subtotal int64
	for i := range in {
		if out[i].SKU != in[i].SKU || out[i].Quantity != in[i].Quantity {
			return nil, 0, refuse(CodePricing, nil, "pricing.adjust changed line %d (%s×%d → %s×%d)", i+1, in[i].SKU, in[i].Quantity, out[i].SKU, out[i].Quantity)
		}
		if out[i].UnitPrice < 0 {
			return nil, 0, refuse(CodePricing, nil, "pricing.adjust gave %s a negative price", in[i].SKU)
		}
		if out[i].UnitPrice > 0 && out[i].Quantity > math.MaxInt64/out[i].UnitPrice {
			return nil, 0, refuse(CodePricing, nil, "line %s overflows", in[i].SKU)
		}
		lt := out[i].UnitPrice * out[i].Quantity
		if subtotal > math.MaxInt64-lt {
			return nil, 0, refuse(CodePricing, nil, "subtotal overflows")
		}
		subtotal += lt
	}
	return out, subtotal, nil
}

// routeRequest reads what every location can sell of the lines, for
// stock.route_warehouse.
func (s *Service) routeRequest(ctx context.Context, bizCode string, req PlaceRequest, lines []extensions.Line) (extensions.RouteRequest, error) {
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	avail, err := stock.Availability(ctx, s.stock.Reads(ctx, nil), req.Channel, skus)
	if err != nil {
		return extensions.RouteRequest{}, err
	}
	rreq := extensions.RouteRequest{BizCode: bizCode, Channel: req.Channel, Lines: lines, Locations: avail}
	if req.ShippingAddress != nil {
		rreq.Region = req.ShippingAddress.Region
	}
	return rreq, nil
}

// route asks stock.route_warehouse for a location that can ship every line.
func (s *Service) route(op *kernel.Operation, rreq extensions.RouteRequest) (string, error) {
	lines := rreq.Lines
	known := func(name string) bool {
		return slices.ContainsFunc(rreq.Locations, func(l extensions.LocationStock) bool { return l.Location == name })
	}
	r, err := stock.RouteWarehouse.Call(op, rreq)
	var noAnswer *kernel.NoAnswerError
	if errors.As(err, &noAnswer) || err == nil && !known(r.Location) {
		if region := rreq.Region; region != "" && s.regionUnserved(op.Context(), rreq) {
			return "", &Error{Code: CodeRegionNotServed, Message: fmt.Sprintf("no stock location that ships to region %q holds this order", region),
				Fields: map[string]any{"region": region}, Err: err}
		}
		sku := ""
		if len(lines) > 0 {
			sku = shortest(lines, rreq.Locations)
		}
		return "", &Error{Code: CodeOutOfStock, Message: fmt.Sprintf("no location can ship this order; SKU %s is short", sku),
			Fields: map[string]any{"sku": sku}, Err: err}
	}
	if err != nil {
		return "", err
	}
	return r.Location, nil
}

// regionUnserved reports whether the order's region, not its quantities,
// is what keeps it from shipping: some location carries the order's SKUs
// (has stock of them, sold out or not), but none of the locations that ship
// to the region does. The buyer then hears region_not_served, not
// out_of_stock (no restock of the region's locations is planned). Only a
// refusal pays for the read.
func (s *Service) regionUnserved(ctx context.Context, rreq extensions.RouteRequest) bool {
	skus := make([]string, len(rreq.Lines))
	for i, l := range rreq.Lines {
		skus[i] = l.SKU
	}
	levels, err := stock.Levels(ctx, s.stock.Reads(ctx, nil), skus...)
	if err != nil || len(levels) == 0 {
		return false
	}
	carries := map[string]bool{}
	for _, l := range levels {
		carries[l.Location] = true
	}
	return !slices.ContainsFunc(rreq.Locations, func(l extensions.LocationStock) bool {
		return carries[l.Location] && (len(l.Regions) == 0 || slices.Contains(l.Regions, rreq.Region))
	})
}

// shortest names the first line that no location holds in full, for the
// out-of-stock message.
func shortest(lines []extensions.Line, locs []extensions.LocationStock) string {
	for _, l := range lines {
		enough := false
		for _, loc := range locs {
			if loc.Sellable[l.SKU] >= l.Quantity {
				enough = true
			}
		}
		if !enough {
			return l.SKU
		}
	}
	return lines[0].SKU
}

// Get returns an order.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	v := []View{viewOf(o, s.lifecycleOf(o.BizCode))}
	if err := s.withSubOrders(ctx, v); err != nil {
		return View{}, err
	}
	return v[0], nil
}

func (s *Service) load(ctx context.Context, id string) (store.Order, error) {
	o, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return o, refuse(CodeNotFound, nil, "order %s not found", id)
	}
	return o, err
}

// lifecycleOf is the identity's lifecycle in the plans in force, or nil if
// the identity is no longer configured.
func (s *Service) lifecycleOf(bizCode string) *lifecycle.Compiled {
	if p, ok := s.kernel.Plans().Plan(identity.Code(bizCode)); ok {
		return p.Lifecycle()
	}
	return nil
}

// KnownStatus reports whether status is a state of the default lifecycle or
// of the lifecycle of an identity in force: what a list may filter on.
func (s *Service) KnownStatus(status string) bool {
	if status == StatusPaid { // a parent's, while its sub-orders are under way
		return true
	}
	if slices.ContainsFunc(lifecycle.Default().States, func(st lifecycle.State) bool { return st.Name == status }) {
		return true
	}
	plans := s.kernel.Plans()
	for _, code := range plans.Identities() {
		if p, ok := plans.Plan(code); ok && p.Lifecycle() != nil && p.Lifecycle().HasState(status) {
			return true
		}
	}
	return false
}

// Query filters and pages a list of orders.
type Query struct {
	BuyerID string
	Status  string
	BizCode string
	// Attrs filters on searchable attributes: name → value (attr.<name>=
	// in the API). A name no identity listed declares searchable is refused
	// with attribute_not_searchable.
	Attrs map[string]string
	// ParentID lists the sub-orders of a parent; TopLevel leaves sub-orders
	// out (orders that did not split and parents).
	ParentID string
	TopLevel bool
	Limit    int
	Cursor   string
	// Access keeps only the orders the caller may see (from the policy); nil
	// does not restrict. A filter the store cannot express is an error
	// (store.ErrInvalid): deny.
	Access *store.Access
}

// Page is one page of orders and the cursor of the next, empty at the end.
type Page struct {
	Orders     []View `json:"orders"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// List returns a page of orders ordered by (createdAt, id), so that paging
// neither skips nor repeats an order while new ones arrive.
func (s *Service) List(ctx context.Context, q Query) (Page, error) {
	sq := store.OrderQuery{BuyerID: q.BuyerID, Status: q.Status, BizCode: q.BizCode, Limit: q.Limit + 1, Access: q.Access,
		Family: store.FamilyFilter{ParentID: q.ParentID, TopLevel: q.TopLevel}}
	attrs, err := s.searchFilter(q.BizCode, q.Attrs)
	if err != nil {
		return Page{}, err
	}
	sq.Attrs = attrs
	if q.Cursor != "" {
		c, err := DecodeCursor(q.Cursor, q)
		if err != nil {
			return Page{}, refuse(CodeInvalid, nil, "malformed cursor")
		}
		sq.After = &c
	}
	orders, err := s.store.ListOrders(ctx, sq)
	if err != nil {
		return Page{}, err
	}
	page := Page{Orders: []View{}}
	for i, o := range orders {
		if i == q.Limit {
			last := orders[i-1]
			page.NextCursor = EncodeCursor(store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}, q)
			break
		}
		page.Orders = append(page.Orders, viewOf(o, s.lifecycleOf(o.BizCode)))
	}
	if err := s.withSubOrders(ctx, page.Orders); err != nil {
		return Page{}, err
	}
	return page, nil
}

// Trace returns the extension calls that shaped an order.
func (s *Service) Trace(ctx context.Context, id string) ([]store.OrderTrace, error) {
	if _, err := s.load(ctx, id); err != nil {
		return nil, err
	}
	return s.store.OrderTraces(ctx, id)
}

// Fire fires a lifecycle event on an order through its identity's plan: the
// order.guard point, the transition's effects, then one transaction that
// changes the state (checking the version), moves stock, appends history
// and trace, and writes the outbox event. A concurrent change is retried on
// the reloaded order up to MaxTransitionRetries times.
func (s *Service) Fire(ctx context.Context, id string, ev Event) (View, error) {
	var last error
	for attempt := 0; attempt <= MaxTransitionRetries; attempt++ {
		v, err := s.fireOnce(ctx, id, ev)
		if !errors.Is(err, store.ErrVersionConflict) {
			return v, err
		}
		last = err
	}
	return View{}, &Error{Code: CodeVersionConflict, Message: fmt.Sprintf("order %s kept changing; try again", id), Err: last}
}

func (s *Service) fireOnce(ctx context.Context, id string, ev Event) (View, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	if ev.IfVersion != 0 && o.Version != ev.IfVersion {
		return View{}, refuse(CodeOrderStale, map[string]any{"version": o.Version, "orderStatus": o.Status},
			"order %s is at version %d (%s), not %d: it changed since you read it; read it again", o.ID, o.Version, o.Status, ev.IfVersion)
	}
	switch {
	case o.SubOrders > 0:
		return s.fireParent(ctx, o, ev)
	case o.ParentID != "":
		return s.fireSubOrder(ctx, o, ev)
	}
	// Continue, not Begin: a disabled identity's orders still move to an end.
	op, err := s.kernel.Continue(ctx, identity.Code(o.BizCode))
	if err != nil {
		return View{}, &Error{Code: CodeIdentity, Message: err.Error(), Err: err}
	}
	plan := op.Plan()
	snap := Snapshot{ID: o.ID, BizCode: o.BizCode, BuyerID: o.BuyerID, State: o.Status, Version: o.Version,
		Total: extensions.Money{Amount: o.Total, Currency: o.Currency}, Attributes: attributesOf(o)}
	var updated store.Order
	_, err = Fire(op, snap, ev, func(ctx context.Context, t lifecycle.Transition) error {
		now := s.now().UTC().Truncate(time.Microsecond)
		next := o
		next.Status, next.Version, next.UpdatedAt = t.To, o.Version+1, now
		tr := store.Transition{OrderID: o.ID, ExpectVersion: o.Version, To: t.To,
			History: store.OrderHistory{OrderID: o.ID, Version: o.Version + 1, Event: t.Event, FromState: t.From, ToState: t.To,
				Actor: ev.Actor, Reason: ev.Data["reason"], CreatedAt: now},
			Steps:                append(append(slices.Clone(ev.steps), transitionSteps(o, t.From, t.To, s.stock)...), fulfilmentSteps(plan, o, t.To, now)...),
			Traces:               traces(o.ID, op.Trace()),
			ClearPaymentDeadline: t.From == lifecycle.PendingPayment,
		}
		if tr.ClearPaymentDeadline {
			next.PaymentDeadline = nil
		}
		view := viewOf(next, plan.Lifecycle())
		tr.Events = []store.OutboxEvent{event(events.TransitionType(t.Event, t.To), o.ID, transitionPayload(t, ev, view), now)}
		if refund, ok := refundOnTransition(o, t.From, t.To); ok {
			steps, evs := s.refundSteps(o, refund, now)
			tr.Steps, tr.Events = append(tr.Steps, steps...), append(tr.Events, evs...)
		}
		stampAll(tr.Events, o.BizCode, next.Version)
		updated, err = s.store.TransitionOrder(ctx, tr)
		return err
	})
	if err != nil {
		return View{}, transitionError(err)
	}
	s.settleStock(ctx, o.ID)
	return viewOf(updated, plan.Lifecycle()), nil
}

// transitionError maps lifecycle refusals to service errors; other errors
// (version conflicts included) pass through.
func transitionError(err error) error {
	var notAllowed *lifecycle.EventNotAllowedError
	var veto *lifecycle.VetoError
	var commit *lifecycle.CommitError
	switch {
	case errors.As(err, &notAllowed):
		allowed := notAllowed.Allowed
		if allowed == nil {
			allowed = []string{}
		}
		return &Error{Code: CodeEventNotAllowed, Message: fmt.Sprintf("event %q is not allowed in state %s", notAllowed.Event, notAllowed.State),
			Fields: map[string]any{"allowedEvents": allowed, "status": notAllowed.State}, Err: err}
	case errors.As(err, &veto):
		return &Error{Code: CodeVetoed, Message: veto.Reason, Fields: map[string]any{"reason": veto.Code, "by": veto.Guard}, Err: err}
	case errors.As(err, &commit):
		return commit.Cause
	}
	return err
}

func viewOf(o store.Order, lc *lifecycle.Compiled) View {
	v := View{ID: o.ID, BizCode: o.BizCode, BuyerID: o.BuyerID, OwnerOrg: o.OwnerOrg, Status: o.Status, Channel: o.Channel,
		Amounts:       Amounts{Subtotal: o.Subtotal, Discount: o.Discount, Freight: o.Freight, Total: o.Total, Currency: o.Currency},
		PaymentMethod: o.PaymentMethod, Location: o.Location, Version: o.Version, CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(),
		Items: make([]LineView, 0, len(o.Lines)), AvailableEvents: []string{}, ParentID: o.ParentID, subOrders: o.SubOrders}
	if o.PaymentDeadline != nil {
		d := o.PaymentDeadline.UTC()
		v.PaymentDeadline = &d
	}
	for _, l := range o.Lines {
		v.Items = append(v.Items, LineView{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal, Discount: l.Discount})
	}
	if o.Shipping != "" {
		var a extensions.Address
		if json.Unmarshal([]byte(o.Shipping), &a) == nil {
			v.ShippingAddress = &a
		}
	}
	v.Attributes = attributesOf(o)
	if lc != nil {
		if ev := lc.Allowed(o.Status); ev != nil {
			v.AvailableEvents = ev
		}
	}
	return v
}

// traces converts an operation's records; the store numbers them after the
// order's earlier traces.
func traces(orderID string, records []kernel.Record) []store.OrderTrace {
	out := make([]store.OrderTrace, len(records))
	for i, r := range records {
		out[i] = store.OrderTrace{OrderID: orderID, Point: r.Point, Impl: r.Impl, Layer: r.Layer.String(),
			Source: r.Source, ImplVersion: r.Version, Origin: string(r.Origin), DurationNanos: int64(r.Duration), Outcome: r.Outcome.String()}
		if r.Err != nil {
			out[i].Error = r.Err.Error()
		}
	}
	return out
}

// ofOrder stamps an event with its order's identity and the order's version
// after the change (0 when the change leaves the version alone).
func ofOrder(e store.OutboxEvent, bizCode string, version int64) store.OutboxEvent {
	e.BizCode, e.Version = bizCode, version
	return e
}

// stampAll stamps every event of one change of an order with the order's
// identity and its version after the change.
func stampAll(evs []store.OutboxEvent, bizCode string, version int64) {
	for i := range evs {
		evs[i] = ofOrder(evs[i], bizCode, version)
	}
}

// transitionPayload is the payload of a transition's typed event (schema
// defs.v1.json#/$defs/transition): the event's data is included when it
// has any (paymentId of a capture, reason of a cancellation).
func transitionPayload(t lifecycle.Transition, ev Event, view View) map[string]any {
	p := map[string]any{"event": t.Event, "from": t.From, "to": t.To, "actor": ev.Actor, "order": view}
	if len(ev.Data) > 0 {
		p["data"] = ev.Data
	}
	return p
}

func event(topic, orderID string, payload any, now time.Time) store.OutboxEvent {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	return store.OutboxEvent{ID: hex.EncodeToString(id[:]), Topic: topic, AggregateID: orderID, Payload: string(b), CreatedAt: now}
}
