package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

const identity = "virtual.topup"

func TestManifest(t *testing.T) {
	m, err := extensions.ParseManifest(manifestJSON)
	if err != nil {
		t.Fatalf("bizpack.json does not parse: %v", err)
	}
	if err := newBizpack().Err(); err != nil {
		t.Fatalf("bizpack does not check: %v", err)
	}
	wantPatch := &extensions.LifecyclePatch{
		Name: "virtual-topup",
		RemoveStates: []string{"pending_review", "pending_outbound", "pending_inbound",
			"rejected", "outbound_failed", "inbound_failed"},
		Retarget: map[string]string{"pay": "completed"},
	}
	if !reflect.DeepEqual(m.Lifecycle, wantPatch) {
		t.Errorf("lifecycle patch = %+v, want %+v", m.Lifecycle, wantPatch)
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			got := r.Manifest()
			cases := []struct {
				field     string
				got, want any
			}{
				{"name", got.Name, "virtual-topup"},
				{"identities", got.Identities, []string{identity}},
				{"points", got.Points, []extensions.PointTypes{
					{Point: extensions.DeliveryRequired, Request: "DeliveryRequest", Response: "DeliveryRequirement"},
					{Point: extensions.OrderValidate, Request: "ValidateRequest", Response: "Verdict"},
					{Point: extensions.FulfilmentDispatch, Request: "FulfilmentRequest", Response: "FulfilmentAnswer"},
					{Point: extensions.FulfilmentQuery, Request: "FulfilmentRequest", Response: "FulfilmentAnswer"},
				}},
				{"network", got.Network, true},
				{"lifecycle", got.Lifecycle, wantPatch},
				{"protocol", got.Protocol, "1.3"},
				{"phone attribute", got.Attributes != nil && got.Attributes.Properties["phone"].Searchable &&
					len(got.Attributes.Required) == 1 && got.Attributes.Required[0] == "phone", true},
				{"payment timeout", got.PaymentTimeout, ""},
			}
			for _, c := range cases {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestNoDelivery(t *testing.T) {
	cases := []struct {
		name string
		req  extensions.DeliveryRequest
	}{
		{"no address", extensions.DeliveryRequest{BizCode: identity,
			Lines: []extensions.Line{{SKU: "topup-100", Quantity: 1, Virtual: true, UnitPrice: 10000}}}},
		{"with an address", extensions.DeliveryRequest{BizCode: identity, Shipping: &extensions.Address{Region: "CN-31"},
			Lines: []extensions.Line{{SKU: "topup-50", Quantity: 2, Virtual: true, UnitPrice: 5000}}}},
		{"no lines", extensions.DeliveryRequest{BizCode: identity}},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				got, err := harness.Call[extensions.DeliveryRequirement](r, extensions.DeliveryRequired, identity, c.req)
				if err != nil || got.Required {
					t.Errorf("%s: %+v, %v; want required=false", c.name, got, err)
				}
			}
		})
	}
}

// outcome is what a step of a scenario expects: allow, a denial code, or
// a skip.
type outcome string

const (
	allow outcome = "allow"
	skip  outcome = "skip"
)

// check compares one guard answer with what the step expects.
func check(t *testing.T, step string, v extensions.Verdict, err error, want outcome) {
	t.Helper()
	switch want {
	case skip:
		if !errors.Is(err, extensions.ErrSkip) {
			t.Errorf("%s: %+v, %v; want skip", step, v, err)
		}
	case allow:
		if err != nil || !v.Allow {
			t.Errorf("%s: %+v, %v; want allow", step, v, err)
		}
	default:
		if err != nil || v.Allow || v.Code != string(want) || v.Reason == "" {
			t.Errorf("%s: %+v, %v; want deny %s with a reason", step, v, err, want)
		}
	}
}
