package api

import (
	"bytes"
	"maps"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/order"
)

// Key sizes of the order sub-resources, within the domains' columns: a
// payment key is scoped by the order id in a 255-byte column, a return id
// is part of the stock ledger's move keys.
const (
	MaxPaymentKey = 128
	MaxReturnKey  = stock.MaxReturnID
	maxCardNumber = 32
)

// paidThroughAPI reports whether an order's payment method is settled by
// POST /v1/orders/{id}/payments (a card charge, an agent's credit capture)
// rather than outside the platform (cash on delivery).
func paidThroughAPI(method string) bool {
	return method == payment.MethodCard || method == payment.MethodAgentCredit
}

func paymentsPath(orderID string) string { return "/v1/orders/" + orderID + "/payments" }

// CardRequest is a payment card as a request carries it. The number goes
// to the processor and is dropped: only its brand and last four digits are
// kept.
type CardRequest struct {
	Number string `json:"number"`
}

// PaymentRequest is the body of POST /v1/orders/{id}/payments: a card for
// an order paid by card, nothing ({}) for one paid by agent credit.
type PaymentRequest struct {
	Card *CardRequest `json:"card,omitempty"`
}

// PaymentList answers GET /v1/orders/{id}/payments.
type PaymentList struct {
	OrderID  string            `json:"orderId"`
	Payments []payment.Payment `json:"payments"`
}

// pay pays an order under the caller's Idempotency-Key: the same key is the
// same payment, so a retry never charges twice. Only the order's buyer
// pays it. A declined card ends the order (402 payment_declined).
func (s *Server) pay(c echo.Context) error {
	key, err := idempotencyKeyOf(c.Request().Header, "POST /v1/orders/{id}/payments", "payment", MaxPaymentKey)
	if err != nil {
		return err
	}
	var req PaymentRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Card != nil && (req.Card.Number == "" || len(req.Card.Number) > maxCardNumber) {
		return invalidField("card.number", "a card number is 1 to %d characters", maxCardNumber)
	}
	v, err := s.orderFor(c, ActionOrderPay, "")
	if err != nil {
		return err
	}
	p := principalOf(c)
	if v.PaymentMethod == payment.MethodAgentCredit && req.Card != nil {
		return problem(order.CodePaymentInvalid, map[string]any{"paymentMethod": v.PaymentMethod},
			"order %s is paid by agent credit: send no card", v.ID)
	}
	preq := order.PayRequest{Key: key, Actor: p.ID}
	if req.Card != nil {
		preq.Card = &payment.Card{Number: req.Card.Number}
	}
	res, err := s.svc.Pay(c.Request().Context(), v.ID, preq)
	if err != nil {
		return err
	}
	res.Order = s.forCaller(c, res.Order, nil)
	return c.JSON(http.StatusOK, res)
}

func (s *Server) listPayments(c echo.Context) error {
	v, err := s.orderFor(c, ActionOrderPayments, "")
	if err != nil {
		return err
	}
	pays, err := s.svc.Payments(c.Request().Context(), v.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PaymentList{OrderID: v.ID, Payments: pays})
}

// ReturnRequest is the body of POST /v1/orders/{id}/returns: the SKUs and
// quantities that came back.
type ReturnRequest struct {
	Items []order.ReturnItem `json:"items"`
}

// ReturnList answers GET /v1/orders/{id}/returns.
type ReturnList struct {
	OrderID string             `json:"orderId"`
	Returns []order.ReturnView `json:"returns"`
}

func (s *Server) checkReturn(req ReturnRequest) error {
	items := make([]skuQuantity, len(req.Items))
	for i, it := range req.Items {
		items[i] = skuQuantity{it.SKU, it.Quantity}
	}
	return s.checkItems("a return", items)
}

// returnItems opens a (partial) return of a shipped order under the
// caller's Idempotency-Key, which is the return's id: the same key replays
// the return (200, Idempotent-Replayed) and another body under it is
// idempotency_key_reused. The buyer or an agent opens it; nothing is
// refunded or restocked until an operator approves it and confirms the
// goods came back (returnStep).
func (s *Server) returnItems(c echo.Context) error {
	key, err := idempotencyKeyOf(c.Request().Header, "POST /v1/orders/{id}/returns", "return", MaxReturnKey)
	if err != nil {
		return err
	}
	var req ReturnRequest
	if err := s.decode(c, &req, decodeOptions{rangeCode: CodeInvalidQuantity}); err != nil {
		return err
	}
	if err := s.checkReturn(req); err != nil {
		return err
	}
	v, err := s.orderFor(c, ActionOrderReturn, "")
	if err != nil {
		return err
	}
	rv, err := s.svc.Return(c.Request().Context(), v.ID, order.ReturnRequest{ReturnID: key, Items: req.Items, Actor: principalOf(c).ID})
	if err != nil {
		return err
	}
	if !rv.Replayed {
		return c.JSON(http.StatusCreated, rv)
	}
	if !sameItems(req.Items, rv) {
		return problem(CodeIdempotencyKeyReused, map[string]any{"returnId": key},
			"return %s was opened with other items; use a new Idempotency-Key for a new return", key)
	}
	c.Response().Header().Set(HeaderReplayed, "true")
	return c.JSON(http.StatusOK, rv)
}

// ReturnStepRequest is the optional body of a return's step: why. A
// rejection needs a reason.
type ReturnStepRequest struct {
	Reason string `json:"reason"`
}

// maxReturnReason is the size of the reason column.
const maxReturnReason = 1024

// returnStepActions are the policy action and the audit of each step of a
// return: the operator's steps are audited (the requester's are in the
// return's history and events).
var returnStepActions = map[string]struct {
	action  string
	audited bool
}{
	order.ReturnApprove: {ActionOrderReturnApprove, true},
	order.ReturnReject:  {ActionOrderReturnReject, true},
	order.ReturnReceive: {ActionOrderReturnReceive, true},
	order.ReturnCancel:  {ActionOrderReturnCancel, false},
}

// returnStep handles POST /v1/orders/{id}/returns/{returnId}/{step}:
// approve, reject and receive (operators), cancel (the requester). The
// same step again answers the return as it is (200, Idempotent-Replayed);
// a step its state does not allow is 409 return_state.
func (s *Server) returnStep(step string) echo.HandlerFunc {
	a := returnStepActions[step]
	return func(c echo.Context) error {
		var req ReturnStepRequest
		raw, err := readBody(c, s.limits.MaxBodyBytes)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := decodeStrict(raw, &req, decodeOptions{}); err != nil {
				return err
			}
		}
		req.Reason = strings.TrimSpace(req.Reason)
		if len(req.Reason) > maxReturnReason {
			return invalidField("reason", "a reason is at most %d bytes", maxReturnReason)
		}
		if step == order.ReturnReject && req.Reason == "" {
			return invalidField("reason", "a rejection needs a reason")
		}
		v, err := s.orderFor(c, a.action, "")
		if err != nil {
			return err
		}
		rid := c.Param("returnId")
		if rid == "" || len(rid) > MaxReturnKey {
			return problem(order.CodeReturnNotFound, map[string]any{"returnId": rid}, "order %s has no return %q", v.ID, rid)
		}
		sreq := order.ReturnStepRequest{ReturnID: rid, Step: step, Actor: principalOf(c).ID, Reason: req.Reason}
		if a.audited {
			e := s.auditEntry(c, a.action, step, auditReturn, v.ID+"/"+rid, nil, nil)
			sreq.Audit = &e
		}
		rv, err := s.svc.ReturnStep(c.Request().Context(), v.ID, sreq)
		if err != nil {
			return err
		}
		if rv.Replayed {
			c.Response().Header().Set(HeaderReplayed, "true")
		}
		return c.JSON(http.StatusOK, rv)
	}
}

// sameItems reports whether a replayed return has exactly the requested
// SKUs and quantities.
func sameItems(items []order.ReturnItem, rv order.ReturnView) bool {
	want, got := map[string]int64{}, map[string]int64{}
	for _, it := range items {
		want[it.SKU] += it.Quantity
	}
	for _, l := range rv.Lines {
		got[l.SKU] += l.Quantity
	}
	return maps.Equal(want, got)
}

func (s *Server) listReturns(c echo.Context) error {
	v, err := s.orderFor(c, ActionOrderReturns, "")
	if err != nil {
		return err
	}
	rets, err := s.svc.Returns(c.Request().Context(), v.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ReturnList{OrderID: v.ID, Returns: rets})
}
