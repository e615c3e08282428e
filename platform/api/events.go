package api

import (
	"encoding/json"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
)

// forCaller narrows an order's availableEvents, which the order service
// gives as every event its lifecycle allows in its state, to the events the
// caller may fire now: those the policy permits it on this order (the
// permitted events of order.event), less the events only the platform fires
// (lifecycle.SystemEvent) and, on an order paid through the API, pay (it is
// fired by POST /v1/orders/{id}/payments, never directly). res is the
// order's policy resource, looked up when nil. When the policy cannot
// answer, the list is empty: it is advice, and a failed decision must not
// offer what may be refused.
func (s *Server) forCaller(c echo.Context, v order.View, res *authz.Resource) order.View {
	if len(v.AvailableEvents) == 0 {
		v.AvailableEvents = []string{}
		return v
	}
	all := v.AvailableEvents
	v.AvailableEvents = []string{}
	if res == nil {
		r, err := s.orderResource(c.Request().Context(), v)
		if err != nil {
			return v
		}
		res = r
	}
	r := *res
	r.Event = all[0] // any event: the decision lists every permitted one
	d, err := s.decide(c, authz.Input{Principal: principalOf(c).subject(), Action: ActionOrderEvent, Resource: &r})
	if err != nil {
		return v
	}
	every := slices.Contains(d.Events, "*")
	for _, e := range all {
		switch {
		case lifecycle.SystemEvent(e):
		case e == lifecycle.EventPay && paidThroughAPI(v.PaymentMethod):
		case every || slices.Contains(d.Events, e):
			v.AvailableEvents = append(v.AvailableEvents, e)
		}
	}
	return v
}

// forCallerJSON is forCaller on an order's JSON (an idempotent replay):
// body unchanged when it is not an order.
func (s *Server) forCallerJSON(c echo.Context, body string) string {
	var v order.View
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID == "" {
		return body
	}
	return s.forCaller(c, v, nil).JSON()
}
