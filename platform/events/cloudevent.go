// Package events defines how the platform's events leave it: the CloudEvents
// 1.0 envelope every outside consumer receives (NATS JetStream, webhooks, the
// change-data-capture feed), built from an outbox event.
package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/platform/outbox"
)

// SpecVersion is the CloudEvents version of the envelope.
const SpecVersion = "1.0"

// DefaultSource is the CloudEvents source of events the platform emits when
// no other is configured.
const DefaultSource = "urn:tmf:platform"

// CloudEvent is the JSON envelope of one event (CloudEvents 1.0, structured
// content mode). Type is the catalogue's event type (e.g. "order.placed"),
// Subject the aggregate's id (the order id for order events). The extension
// attributes tmfbizcode and tmfversion carry the business identity and the
// aggregate's version after the change, so a consumer can route by identity
// and drop an update older than the one it holds. TraceParent and
// TraceState are CloudEvents' distributed-tracing extension: the W3C trace
// context of the request whose change the event announces, present when
// that request was traced.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	DataSchema      string          `json:"dataschema,omitempty"`
	BizCode         string          `json:"tmfbizcode,omitempty"`
	Version         int64           `json:"tmfversion,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	TraceState      string          `json:"tracestate,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// FromOutbox wraps an outbox event in its envelope; source "" takes
// DefaultSource. The dataschema is the catalogue's schema URL of the type
// (empty for a type the catalogue does not declare).
func FromOutbox(e outbox.Event, source string) CloudEvent {
	if source == "" {
		source = DefaultSource
	}
	data := e.Payload
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return CloudEvent{SpecVersion: SpecVersion, ID: e.ID, Source: source, Type: e.Topic, Subject: e.AggregateID,
		Time: e.CreatedAt.UTC(), DataContentType: "application/json", DataSchema: schemaURL(e.Topic), BizCode: e.BizCode,
		Version: e.Version, TraceParent: e.Traceparent, TraceState: e.Tracestate, Data: data}
}

func schemaURL(typ string) string {
	if t, ok := Lookup(typ); ok {
		return t.SchemaURL()
	}
	return ""
}

// Validate checks the attributes CloudEvents 1.0 requires.
func (c CloudEvent) Validate() error {
	switch {
	case c.SpecVersion != SpecVersion:
		return fmt.Errorf("events: specversion %q, want %q", c.SpecVersion, SpecVersion)
	case c.ID == "":
		return fmt.Errorf("events: id is empty")
	case c.Source == "":
		return fmt.Errorf("events: source is empty")
	case c.Type == "":
		return fmt.Errorf("events: type is empty")
	}
	return nil
}
