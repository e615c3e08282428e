package events

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tmf-platform/tmf/platform/store"
)

// envelopeFile is the schema of the envelope (CloudEvents attributes).
const envelopeFile = "cloudevent.v1.json"

// SchemaBase is the URL prefix of the payload schemas: an event type's
// schema is SchemaBase + type + ".v" + version + ".json", the CloudEvents
// dataschema of its events. The files are platform/events/schemas/.
const SchemaBase = "https://tmf-platform.github.io/tmf/schemas/events/"

// Aggregates: what an event's subject (its outbox aggregate id) names.
const (
	AggregateOrder     = "order"     // the order id; tmfbizcode and tmfversion are the order's
	AggregateStock     = "stock"     // the SKU; the payload names the location
	AggregateCoupon    = "coupon"    // the coupon code
	AggregatePromotion = "promotion" // the promotion id
	AggregateConfig    = "config"    // "config"; tmfversion is the revision
	AggregateBizpack   = "bizpack"   // the bizpack's name
)

// Type is one event type of the catalogue. Its payload schema, description
// and example are in the schema file (SchemaFile); Type holds what the
// code needs to route and check events.
type Type struct {
	// Name is the CloudEvents type and outbox topic: "<area>.<what>", one
	// dot exactly, lowercase (order.placed, stock.low).
	Name string
	// Version is the payload schema's version. A change a consumer could
	// trip over (a field removed, renamed or retyped, a new required one)
	// is a new version, declared beside the old one while both are emitted.
	Version int
	// Aggregate says what the subject names (Aggregate* constants).
	Aggregate string
	// Emitter is where the event is written, for the docs.
	Emitter string
}

// SchemaFile is the type's schema file under schemas/.
func (t Type) SchemaFile() string { return fmt.Sprintf("%s.v%d.json", t.Name, t.Version) }

// SchemaURL is the type's schema URL, the dataschema of its events.
func (t Type) SchemaURL() string { return SchemaBase + t.SchemaFile() }

// Order event types. Transitions are typed by TransitionType.
const (
	OrderPlaced         = "order.placed"
	OrderPaid           = "order.paid"
	OrderPaymentFailed  = "order.payment_failed"
	OrderCancelled      = "order.cancelled"
	OrderTimedOut       = "order.timed_out"
	OrderApproved       = "order.approved"
	OrderRejected       = "order.rejected"
	OrderShipped        = "order.shipped"
	OrderOutboundFailed = "order.outbound_failed"
	OrderReceived       = "order.received"
	OrderInboundFailed  = "order.inbound_failed"
	OrderCompleted      = "order.completed"
	// OrderFulfilled and OrderFulfilFailed end an order fulfilled by a
	// supplier (states fulfilled and fulfil_failed).
	OrderFulfilled    = "order.fulfilled"
	OrderFulfilFailed = "order.fulfil_failed"
	// OrderFulfilmentLate is a supplier's success that came after its
	// order was refunded: raised for an operator.
	OrderFulfilmentLate = "order.fulfilment_late"
	// OrderTransitioned is the typed fallback of a transition no other
	// type names (a custom event into a custom or non-terminal state).
	OrderTransitioned = "order.transitioned"

	OrderReturnRequested = "order.return_requested"
	OrderReturnApproved  = "order.return_approved"
	OrderReturnRejected  = "order.return_rejected"
	OrderReturned        = "order.returned"
	OrderReturnCancelled = "order.return_cancelled"
)

// Other event types.
const (
	PaymentRefundDue    = "payment.refund_due"
	PaymentChargeFailed = "payment.charge_failed"
	PaymentRefunded     = "payment.refunded"
	PaymentRefundFailed = "payment.refund_failed"

	StockLow = "stock.low"
	StockOut = "stock.out"

	CouponUsed               = "coupon.used"
	PromotionBudgetExhausted = "promotion.budget_exhausted"

	ConfigRevisionApplied = store.TopicRevisionApplied
	BizpackStatusChanged  = "bizpack.status_changed"

	// OrderChanged is a committed change of an order's row, read from
	// PostgreSQL's log by the change-data-capture listener (tmfd cdc), not
	// written to the outbox.
	OrderChanged = "order.changed"
)

const (
	emitOrder     = "platform/order (the order's transaction)"
	emitReturn    = "platform/order returns (the return's transaction)"
	emitPayment   = "platform/order payments (the transaction that settles the payment)"
	emitRefundDue = "platform/order (the transaction that decides the refund)"
)

// types is the catalogue: every event type the platform emits, once.
var types = []Type{
	{OrderPlaced, 1, AggregateOrder, emitOrder},
	{OrderPaid, 1, AggregateOrder, emitOrder},
	{OrderPaymentFailed, 1, AggregateOrder, emitOrder},
	{OrderCancelled, 1, AggregateOrder, emitOrder},
	{OrderTimedOut, 1, AggregateOrder, emitOrder},
	{OrderApproved, 1, AggregateOrder, emitOrder},
	{OrderRejected, 1, AggregateOrder, emitOrder},
	{OrderShipped, 1, AggregateOrder, emitOrder},
	{OrderOutboundFailed, 1, AggregateOrder, emitOrder},
	{OrderReceived, 1, AggregateOrder, emitOrder},
	{OrderInboundFailed, 1, AggregateOrder, emitOrder},
	{OrderCompleted, 1, AggregateOrder, emitOrder},
	{OrderTransitioned, 1, AggregateOrder, emitOrder},
	{OrderFulfilled, 1, AggregateOrder, emitOrder},
	{OrderFulfilFailed, 1, AggregateOrder, emitOrder},
	{OrderFulfilmentLate, 1, AggregateOrder, "platform/fulfilment (the transaction that records the late answer)"},
	{OrderReturnRequested, 1, AggregateOrder, emitReturn},
	{OrderReturnApproved, 1, AggregateOrder, emitReturn},
	{OrderReturnRejected, 1, AggregateOrder, emitReturn},
	{OrderReturned, 1, AggregateOrder, emitReturn},
	{OrderReturnCancelled, 1, AggregateOrder, emitReturn},
	{PaymentRefundDue, 1, AggregateOrder, emitRefundDue},
	{PaymentChargeFailed, 1, AggregateOrder, emitPayment},
	{PaymentRefunded, 1, AggregateOrder, emitPayment},
	{PaymentRefundFailed, 1, AggregateOrder, emitPayment},
	{StockLow, 1, AggregateStock, "platform/order placement (the order's transaction, after stock.Reserve)"},
	{StockOut, 1, AggregateStock, "platform/order placement (the order's transaction, after stock.Reserve)"},
	{CouponUsed, 1, AggregateCoupon, "platform/order placement (the order's transaction, with promotion.Redeem)"},
	{PromotionBudgetExhausted, 1, AggregatePromotion, "platform/order placement (the order's transaction, with promotion.Redeem)"},
	{ConfigRevisionApplied, 1, AggregateConfig, "platform/store SaveConfig (the transaction that saves the revision)"},
	{BizpackStatusChanged, 1, AggregateBizpack, "cmd/tmfd (bizpackhost's OnStatus, a transaction of its own)"},
	{OrderChanged, 1, AggregateOrder, "platform/cdc (tmfd cdc: a committed change of tmf_orders read from PostgreSQL's log)"},
}

// Types returns the catalogue, sorted by name.
func Types() []Type {
	out := slices.Clone(types)
	slices.SortFunc(out, func(a, b Type) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lookup returns the catalogue's type of name.
func Lookup(name string) (Type, bool) {
	for _, t := range types {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// TransitionType is the event type of an order's lifecycle transition,
// one event per transition, chosen by this rule (first match wins):
//
//  1. the payment timeout (event payment_timeout): order.timed_out;
//  2. into one of the platform's end states, by the state: completed →
//     order.completed, cancelled → order.cancelled, payment_failed →
//     order.payment_failed, rejected → order.rejected, outbound_failed →
//     order.outbound_failed, inbound_failed → order.inbound_failed,
//     fulfilled → order.fulfilled, fulfil_failed → order.fulfil_failed;
//  3. by the platform's events: place → order.placed (placement writes it
//     with the order), pay → order.paid, approve →
//     order.approved, ship → order.shipped, receive → order.received;
//  4. anything else (events and states an identity's lifecycle or a
//     bizpack added): order.transitioned.
//
// So a consumer learns that an order ended, and how, from the type alone
// whatever lifecycle the identity runs (virtual goods' pay into completed
// is order.completed; a bizpack's finance_reject into rejected is
// order.rejected); the payload's event, from and to always say exactly
// what happened.
func TransitionType(event, to string) string {
	if event == "payment_timeout" {
		return OrderTimedOut
	}
	switch to {
	case "completed":
		return OrderCompleted
	case "cancelled":
		return OrderCancelled
	case "payment_failed":
		return OrderPaymentFailed
	case "rejected":
		return OrderRejected
	case "outbound_failed":
		return OrderOutboundFailed
	case "inbound_failed":
		return OrderInboundFailed
	case "fulfilled":
		return OrderFulfilled
	case "fulfil_failed":
		return OrderFulfilFailed
	}
	switch event {
	case "place":
		return OrderPlaced
	case "pay":
		return OrderPaid
	case "approve":
		return OrderApproved
	case "ship":
		return OrderShipped
	case "receive":
		return OrderReceived
	}
	return OrderTransitioned
}

//go:embed schemas/*.json
var schemaFS embed.FS

// Schema returns the raw schema file of a type (or "defs.v1.json").
func Schema(file string) ([]byte, error) { return schemaFS.ReadFile("schemas/" + file) }

// Doc is what a type's schema file says about it.
type Doc struct {
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Examples    []json.RawMessage `json:"examples"`
}

// DocOf reads the description and example of a type from its schema file.
func DocOf(t Type) (Doc, error) {
	b, err := Schema(t.SchemaFile())
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return Doc{}, fmt.Errorf("events: schema %s: %w", t.SchemaFile(), err)
	}
	return d, nil
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

// compile compiles every type's schema once.
func compile() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		entries, err := schemaFS.ReadDir("schemas")
		if err != nil {
			compileErr = err
			return
		}
		for _, e := range entries {
			b, err := schemaFS.ReadFile("schemas/" + e.Name())
			if err != nil {
				compileErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				compileErr = fmt.Errorf("events: schema %s: %w", e.Name(), err)
				return
			}
			if err := c.AddResource(SchemaBase+e.Name(), doc); err != nil {
				compileErr = fmt.Errorf("events: schema %s: %w", e.Name(), err)
				return
			}
		}
		m := map[string]*jsonschema.Schema{}
		env, err := c.Compile(SchemaBase + envelopeFile)
		if err != nil {
			compileErr = fmt.Errorf("events: envelope schema: %w", err)
			return
		}
		m[envelopeFile] = env
		for _, t := range types {
			s, err := c.Compile(t.SchemaURL())
			if err != nil {
				compileErr = fmt.Errorf("events: schema of %s: %w", t.Name, err)
				return
			}
			m[t.Name] = s
		}
		compiled = m
	})
	return compiled, compileErr
}

// ErrUnknownType is an event whose type the catalogue does not declare.
var ErrUnknownType = errors.New("events: type not in the catalogue")

// ValidatePayload checks a payload against its type's schema: an unknown
// type is ErrUnknownType, a payload that does not match names what is wrong.
func ValidatePayload(typ string, payload []byte) error {
	m, err := compile()
	if err != nil {
		return err
	}
	s, ok := m[typ]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("events: %s payload is not JSON: %w", typ, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("events: %s payload: %w", typ, err)
	}
	return nil
}

// ValidateEvent checks an envelope: the CloudEvents attributes, the
// catalogue's rules for its aggregate (an order event has a subject, an
// identity and a version), and its data against the type's schema.
func ValidateEvent(e CloudEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	t, ok := Lookup(e.Type)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	switch {
	case e.Subject == "":
		return fmt.Errorf("events: %s %s has no subject", e.Type, e.ID)
	case t.Aggregate == AggregateOrder && (e.BizCode == "" || e.Version < 1):
		return fmt.Errorf("events: order event %s %s lacks tmfbizcode or tmfversion (%q, %d)", e.Type, e.ID, e.BizCode, e.Version)
	case e.DataSchema != "" && e.DataSchema != t.SchemaURL():
		return fmt.Errorf("events: %s %s: dataschema %s, want %s", e.Type, e.ID, e.DataSchema, t.SchemaURL())
	}
	m, err := compile()
	if err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("events: %s %s: %w", e.Type, e.ID, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("events: %s %s: %w", e.Type, e.ID, err)
	}
	if err := m[envelopeFile].Validate(inst); err != nil {
		return fmt.Errorf("events: %s %s envelope: %w", e.Type, e.ID, err)
	}
	return ValidatePayload(e.Type, e.Data)
}

// SchemaFiles lists the files under schemas/.
func SchemaFiles() ([]string, error) {
	entries, err := schemaFS.ReadDir("schemas")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name()
	}
	return out, nil
}

// LifecycleTypes are the types that announce one step of an order's
// lifecycle (order.placed and every type TransitionType returns): an
// order has exactly one such event per entry of its history.
func LifecycleTypes() []string {
	return []string{OrderPlaced, OrderPaid, OrderPaymentFailed, OrderCancelled, OrderTimedOut, OrderApproved, OrderRejected,
		OrderShipped, OrderOutboundFailed, OrderReceived, OrderInboundFailed, OrderCompleted, OrderTransitioned}
}
