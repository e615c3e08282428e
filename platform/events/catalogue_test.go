package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/outbox"
)

// Every declared type has a schema that compiles, a description and an
// example that its schema accepts; names are "<area>.<what>" and unique;
// every schema file belongs to a declared type.
func TestCatalogueIsComplete(t *testing.T) {
	seen := map[string]bool{}
	files := map[string]bool{"defs.v1.json": true, "cloudevent.v1.json": true}
	for _, typ := range events.Types() {
		t.Run(typ.Name, func(t *testing.T) {
			if seen[typ.Name] {
				t.Fatalf("%s declared twice", typ.Name)
			}
			seen[typ.Name] = true
			files[typ.SchemaFile()] = true
			if strings.Count(typ.Name, ".") != 1 || strings.ToLower(typ.Name) != typ.Name {
				t.Errorf("name %q: want <area>.<what>, lowercase, one dot (the NATS subject scheme needs it)", typ.Name)
			}
			if typ.Version < 1 || typ.Aggregate == "" || typ.Emitter == "" {
				t.Errorf("incomplete declaration %+v", typ)
			}
			d, err := events.DocOf(typ)
			if err != nil {
				t.Fatal(err)
			}
			if d.Title != typ.Name || len(d.Description) < 20 || len(d.Examples) == 0 {
				t.Errorf("schema file: title %q, description %q, %d examples", d.Title, d.Description, len(d.Examples))
			}
			for _, ex := range d.Examples {
				if err := events.ValidatePayload(typ.Name, ex); err != nil {
					t.Errorf("example: %v", err)
				}
			}
		})
	}
	dir, err := events.SchemaFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range dir {
		if !files[f] {
			t.Errorf("schemas/%s belongs to no declared type", f)
		}
	}
}

func TestValidatePayloadRefuses(t *testing.T) {
	cases := []struct {
		name, typ, payload string
		unknown            bool
	}{
		{"unknown type", "order.exploded", `{}`, true},
		{"not JSON", events.StockLow, `{`, false},
		{"missing field", events.StockLow, `{"sku":"a","location":"l","sellable":1,"threshold":10}`, false},
		{"extra field", events.CouponUsed, `{"code":"c","orderId":"o","buyerId":"b","discount":1,"currency":"EUR","x":1}`, false},
		{"wrong type", events.ConfigRevisionApplied, `{"revision":"1","author":"a","createdAt":"2026-01-01T00:00:00Z"}`, false},
		{"bad time", events.ConfigRevisionApplied, `{"revision":1,"author":"a","createdAt":"yesterday"}`, false},
		{"bad order in transition", events.OrderPaid, `{"event":"pay","from":"a","to":"b","actor":"x","order":{"id":"o"}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := events.ValidatePayload(c.typ, []byte(c.payload))
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, events.ErrUnknownType) != c.unknown {
				t.Errorf("error %v: unknown type %v, want %v", err, !c.unknown, c.unknown)
			}
		})
	}
}

func TestTransitionType(t *testing.T) {
	cases := []struct{ event, to, want string }{
		{"pay", lifecycle.PendingReview, events.OrderPaid},
		{"pay", lifecycle.PendingOutbound, events.OrderPaid},
		{"pay", lifecycle.Completed, events.OrderCompleted}, // virtual goods
		{"payment_fail", lifecycle.PaymentFailed, events.OrderPaymentFailed},
		{"cancel", lifecycle.Cancelled, events.OrderCancelled},
		{"payment_timeout", lifecycle.Cancelled, events.OrderTimedOut},
		{"approve", lifecycle.PendingOutbound, events.OrderApproved},
		{"approve", "pending_finance_review", events.OrderApproved},
		{"reject", lifecycle.Rejected, events.OrderRejected},
		{"finance_reject", lifecycle.Rejected, events.OrderRejected},
		{"finance_approve", lifecycle.PendingOutbound, events.OrderTransitioned},
		{"ship", lifecycle.PendingInbound, events.OrderShipped},
		{"outbound_fail", lifecycle.OutboundFailed, events.OrderOutboundFailed},
		{"receive", lifecycle.Completed, events.OrderCompleted},
		{"receive", "pending_acceptance", events.OrderReceived},
		{"inbound_fail", lifecycle.InboundFailed, events.OrderInboundFailed},
		{"escalate", "escalated", events.OrderTransitioned},
	}
	for _, c := range cases {
		if got := events.TransitionType(c.event, c.to); got != c.want {
			t.Errorf("TransitionType(%q, %q) = %q, want %q", c.event, c.to, got, c.want)
		}
	}
	// Every edge of the default lifecycle has a typed event of its own
	// kind, declared in the catalogue.
	for _, e := range lifecycle.Default().Events {
		typ := events.TransitionType(e.Name, e.To)
		if _, ok := events.Lookup(typ); !ok || typ == events.OrderTransitioned {
			t.Errorf("default event %s → %s: type %q", e.Name, e.To, typ)
		}
	}
}

func TestSubject(t *testing.T) {
	cases := []struct {
		typ, biz, want string
	}{
		{"order.paid", "retail.shoes", "tmf.events.order.paid.retail.shoes"},
		{"order.placed", "virtual", "tmf.events.order.placed.virtual"},
		{"stock.low", "", "tmf.events.stock.low._"},
		{"order.paid", "a b.*.>", "tmf.events.order.paid.a_b._._"},
		{"order.paid", "a..b", "tmf.events.order.paid.a._.b"},
	}
	for _, c := range cases {
		if got := events.Subject(events.CloudEvent{Type: c.typ, BizCode: c.biz}); got != c.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", c.typ, c.biz, got, c.want)
		}
	}
}

func TestFromOutboxValidates(t *testing.T) {
	typ, _ := events.Lookup(events.OrderPlaced)
	d, err := events.DocOf(typ)
	if err != nil {
		t.Fatal(err)
	}
	e := events.FromOutbox(outbox.Event{ID: "e1", Topic: events.OrderPlaced, AggregateID: "o-7f3a9c2e41d84b6f", BizCode: "retail.shoes",
		Version: 1, Payload: d.Examples[0], CreatedAt: time.Now()}, "")
	if e.DataSchema != typ.SchemaURL() {
		t.Errorf("dataschema %q, want %q", e.DataSchema, typ.SchemaURL())
	}
	if err := events.ValidateEvent(e); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	if !strings.Contains(string(b), `"tmfversion":1`) || !strings.Contains(string(b), `"tmfbizcode":"retail.shoes"`) {
		t.Errorf("envelope %s", b)
	}
	e.Version = 0
	if err := events.ValidateEvent(e); err == nil {
		t.Error("an order event without its version was accepted")
	}
}
