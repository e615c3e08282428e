package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Markers around the generated part of docs/events.md: the text between
// them is CatalogueMarkdown's; the rest of the file is written by hand.
const (
	BeginGenerated = "<!-- BEGIN generated catalogue: platform/events.CatalogueMarkdown; run \"make docs\" -->"
	EndGenerated   = "<!-- END generated catalogue -->"
)

// exampleEvent wraps a type's example payload in the envelope a consumer
// receives, with fixed attributes, for the docs.
func exampleEvent(t Type, data json.RawMessage) CloudEvent {
	subject, biz, version, traceparent := "o-7f3a9c2e41d84b6f", "", int64(0), ""
	var p map[string]any
	_ = json.Unmarshal(data, &p)
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch t.Aggregate {
	case AggregateOrder:
		biz, version = "retail.shoes", 1
		traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" // present when the request was traced
		if o, ok := p["order"].(map[string]any); ok {
			if v, ok := o["version"].(float64); ok {
				version = int64(v)
			}
		} else if v, ok := p["version"].(float64); ok {
			version = int64(v)
		}
	case AggregateStock:
		subject = str("sku")
	case AggregateCoupon:
		subject = str("code")
	case AggregatePromotion:
		subject = str("promotionId")
	case AggregateConfig:
		subject = "config"
		if v, ok := p["revision"].(float64); ok {
			version = int64(v)
		}
	case AggregateBizpack:
		subject = str("name")
	}
	return CloudEvent{SpecVersion: SpecVersion, ID: "5f0c3e8a9b1d4c2e8f7a6b5c4d3e2f10", Source: DefaultSource, Type: t.Name,
		Subject: subject, Time: time.Date(2026, 12, 6, 8, 5, 0, 500000000, time.UTC), DataContentType: "application/json",
		DataSchema: t.SchemaURL(), BizCode: biz, Version: version, TraceParent: traceparent, Data: data}
}

// CatalogueMarkdown is the generated part of docs/events.md: a table of
// every type, then a section per type with its description, where it is
// written, its schema and an example envelope.
func CatalogueMarkdown() (string, error) {
	var b strings.Builder
	b.WriteString(BeginGenerated + "\n\n")
	b.WriteString("| type | version | subject | description |\n| --- | --- | --- | --- |\n")
	docs := map[string]Doc{}
	for _, t := range Types() {
		d, err := DocOf(t)
		if err != nil {
			return "", err
		}
		docs[t.Name] = d
		first, _, _ := strings.Cut(d.Description, ". ")
		fmt.Fprintf(&b, "| [`%s`](#%s) | %d | %s | %s |\n", t.Name, strings.ReplaceAll(t.Name, ".", ""), t.Version, t.Aggregate,
			strings.TrimSuffix(first, ".")+".")
	}
	for _, t := range Types() {
		d := docs[t.Name]
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", t.Name, d.Description)
		fmt.Fprintf(&b, "- version %d, schema [`%s`](../platform/events/schemas/%s)\n", t.Version, t.SchemaFile(), t.SchemaFile())
		fmt.Fprintf(&b, "- subject: the %s; written by %s\n\n", aggregateNoun(t.Aggregate), t.Emitter)
		if len(d.Examples) > 0 {
			ev, err := json.MarshalIndent(exampleEvent(t, compact(d.Examples[0])), "", "  ")
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "```json\n%s\n```\n", ev)
		}
	}
	b.WriteString("\n" + EndGenerated)
	return b.String(), nil
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

func aggregateNoun(a string) string {
	switch a {
	case AggregateOrder:
		return "order id (tmfbizcode and tmfversion are the order's)"
	case AggregateStock:
		return "SKU (no tmfbizcode, no tmfversion)"
	case AggregateCoupon:
		return "coupon code (no tmfbizcode, no tmfversion)"
	case AggregatePromotion:
		return "promotion id (no tmfbizcode, no tmfversion)"
	case AggregateConfig:
		return "word config; tmfversion is the revision"
	case AggregateBizpack:
		return "bizpack's name (no tmfbizcode, no tmfversion)"
	}
	return a
}

// ReplaceGenerated returns doc with the text between the markers replaced
// by gen (which holds the markers); an error when the markers are missing.
func ReplaceGenerated(doc, gen string) (string, error) {
	i := strings.Index(doc, BeginGenerated)
	j := strings.Index(doc, EndGenerated)
	if i < 0 || j < i {
		return "", fmt.Errorf("events: the generated-catalogue markers are missing")
	}
	return doc[:i] + gen + doc[j+len(EndGenerated):], nil
}

// AsyncAPI is the AsyncAPI 3.0 document of the catalogue, YAML: a channel
// per type on the NATS subjects tmf.events.<type>.{bizCode} (see Subject),
// a receive operation per channel, and a message per type whose payload is
// the CloudEvents envelope with the type's data schema.
func AsyncAPI() ([]byte, error) {
	channels, operations, messages := map[string]any{}, map[string]any{}, map[string]any{}
	for _, t := range Types() {
		d, err := DocOf(t)
		if err != nil {
			return nil, err
		}
		channels[t.Name] = map[string]any{
			"address":     SubjectPrefix + t.Name + ".{bizCode}",
			"title":       t.Name,
			"description": "Events of type " + t.Name + ", one subject per business identity.",
			"parameters":  map[string]any{"bizCode": map[string]any{"$ref": "#/components/parameters/bizCode"}},
			"messages":    map[string]any{t.Name: map[string]any{"$ref": "#/components/messages/" + t.Name}},
		}
		operations["receive."+t.Name] = map[string]any{
			"action":   "receive",
			"channel":  map[string]any{"$ref": "#/channels/" + t.Name},
			"summary":  "Receive " + t.Name + " events.",
			"messages": []any{map[string]any{"$ref": "#/channels/" + t.Name + "/messages/" + t.Name}},
		}
		var examples []any
		for _, ex := range d.Examples {
			examples = append(examples, map[string]any{"name": t.Name, "payload": exampleEvent(t, compact(ex))})
		}
		messages[t.Name] = map[string]any{
			"name":        t.Name,
			"title":       t.Name,
			"summary":     d.Description,
			"contentType": "application/cloudevents+json",
			"payload": map[string]any{
				"schemaFormat": "application/schema+json;version=draft-2020-12",
				"schema": map[string]any{
					"allOf": []any{
						map[string]any{"$ref": "../platform/events/schemas/cloudevent.v1.json"},
						map[string]any{
							"type":     "object",
							"required": []string{"data"},
							"properties": map[string]any{
								"type":       map[string]any{"const": t.Name},
								"dataschema": map[string]any{"const": t.SchemaURL()},
								"data":       map[string]any{"$ref": "../platform/events/schemas/" + t.SchemaFile()},
							},
						},
					},
				},
			},
			"examples": examples,
		}
	}
	doc := map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{
			"title":   "TMF platform events",
			"version": "1",
			"description": "Every event the TMF platform emits, generated from the catalogue in platform/events " +
				"(docs/events.md). Each is a CloudEvents 1.0 JSON envelope published to NATS JetStream on the subject " +
				"tmf.events.<type>.<bizCode> (\"_\" when the event has no business identity) with Nats-Msg-Id = the " +
				"event id. Delivery is at least once: deduplicate by id and drop an event whose tmfversion is lower " +
				"than the one you hold for its subject.",
		},
		"defaultContentType": "application/cloudevents+json",
		"servers": map[string]any{
			"nats": map[string]any{"host": "127.0.0.1:4222", "protocol": "nats",
				"description": "The NATS JetStream server tmfd serve --events publishes to."},
		},
		"channels":   channels,
		"operations": operations,
		"components": map[string]any{
			"messages": messages,
			"parameters": map[string]any{
				"bizCode": map[string]any{"description": "The business identity of the event (its dotted code, " +
					"one subject token per part), \"_\" for events without one (stock, coupons, promotions, " +
					"configuration, bizpacks)."},
			},
		},
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated from the event catalogue by platform/events.AsyncAPI: do not edit, run \"make docs\".\n"), y...), nil
}
