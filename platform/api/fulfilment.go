package api

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// Function-level actions of the fulfilment admin endpoints.
const (
	ActionFulfilmentRead    = "admin.fulfilment.read"
	ActionFulfilmentResolve = "admin.fulfilment.resolve"
)

// Codes of the fulfilment endpoints.
const (
	// CodeFulfilmentDisabled: the server runs no supplier fulfilment.
	CodeFulfilmentDisabled = "fulfilment_disabled"
	// CodeSignatureInvalid: a supplier callback's signature, timestamp or
	// headers do not verify (or the supplier is unknown).
	CodeSignatureInvalid = "signature_invalid"
	// CodeFulfilmentNotFound: no fulfilment of that order for that
	// supplier.
	CodeFulfilmentNotFound = "fulfilment_not_found"
	// CodeFulfilmentNotDispatched: the order's dispatch has not named a
	// supplier yet; call back later.
	CodeFulfilmentNotDispatched = "fulfilment_not_dispatched"
	// CodeFulfilmentConflict: a failure reported after a success.
	CodeFulfilmentConflict = "fulfilment_conflict"
	// CodeFulfilmentBySupplier: fulfil and fulfil_fail are fired by the
	// supplier's answers, never through the events endpoint.
	CodeFulfilmentBySupplier = "fulfilment_by_supplier"
	// CodeNotLate: no unresolved late success for the order.
	CodeNotLate = "fulfilment_not_late"
)

// registerFulfilment adds the supplier callback (authenticated by its
// signature, not by a token) and the admin routes of late successes.
func (s *Server) registerFulfilment(open func(method, path string, h echo.HandlerFunc), add func(method, path string, h echo.HandlerFunc, a access)) {
	open(http.MethodPost, "/v1/fulfilment/callbacks/:supplier", s.fulfilmentCallback)
	add(http.MethodGet, "/v1/admin/fulfilment", s.listFulfilments, function(ActionFulfilmentRead))
	add(http.MethodGet, "/v1/admin/fulfilment/late", s.listLateFulfilments, function(ActionFulfilmentRead))
	add(http.MethodGet, "/v1/admin/fulfilment/:id", s.getFulfilment, function(ActionFulfilmentRead))
	add(http.MethodPost, "/v1/admin/fulfilment/late/:id/resolve", s.resolveLateFulfilment, function(ActionFulfilmentResolve))
}

func (s *Server) fulfiller() (*fulfilment.Service, error) {
	if s.fulfilment == nil {
		return nil, &Problem{Code: CodeFulfilmentDisabled, Detail: "this server runs no supplier fulfilment"}
	}
	return s.fulfilment, nil
}

// fulfilmentCallback is POST /v1/fulfilment/callbacks/{supplier}: a
// supplier's answer, signed the Standard Webhooks way with the supplier's
// secret (webhook-id, webhook-timestamp within the tolerance,
// webhook-signature over "id.timestamp.body"). The body is read whole
// (at most fulfilment.MaxCallbackBytes) before anything is decided; a bad
// signature, a stale timestamp or an unknown supplier answer the same 401,
// so a caller learns nothing about which suppliers exist. A replayed
// webhook-id, or an answer the order already reflects, answers 200 with
// duplicate true and changes nothing.
func (s *Server) fulfilmentCallback(c echo.Context) error {
	f, err := s.fulfiller()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, fulfilment.MaxCallbackBytes+1))
	if err != nil {
		return problem(CodeInvalidRequest, nil, "the body could not be read")
	}
	if len(body) > fulfilment.MaxCallbackBytes {
		return problem(CodeBodyTooLarge, map[string]any{"max": fulfilment.MaxCallbackBytes}, "a callback is at most %d bytes", fulfilment.MaxCallbackBytes)
	}
	supplier := c.Param("supplier")
	if err := f.Verify(supplier, c.Request().Header, body); err != nil {
		return &Problem{Code: CodeSignatureInvalid, Detail: "the callback's signature does not verify: sign it with the supplier's secret " +
			"(Standard Webhooks: webhook-id, webhook-timestamp within 5 minutes, webhook-signature)", Err: err}
	}
	r, err := f.Callback(c.Request().Context(), supplier, c.Request().Header.Get(webhooks.HeaderID), body)
	if err != nil {
		return fulfilmentProblem(err)
	}
	return c.JSON(http.StatusOK, r)
}

// fulfilmentProblem maps the fulfilment service's errors.
func fulfilmentProblem(err error) error {
	switch {
	case errors.Is(err, fulfilment.ErrInvalid):
		return &Problem{Code: CodeInvalidRequest, Detail: err.Error(), Err: err}
	case errors.Is(err, fulfilment.ErrNotFound):
		return &Problem{Code: CodeFulfilmentNotFound, Detail: "no fulfilment of this order for this supplier", Err: err}
	case errors.Is(err, fulfilment.ErrNotDispatched):
		return &Problem{Code: CodeFulfilmentNotDispatched, Detail: "the order is not dispatched to a supplier yet; call back later", Err: err}
	case errors.Is(err, fulfilment.ErrConflict):
		return &Problem{Code: CodeFulfilmentConflict, Detail: "the supplier reported this order delivered before; a failure now is refused", Err: err}
	case errors.Is(err, fulfilment.ErrNotLate):
		return &Problem{Code: CodeNotLate, Detail: "the order has no unresolved late success", Err: err}
	}
	return err
}

// LateFulfilments answers GET /v1/admin/fulfilment/late and GET
// /v1/admin/fulfilment.
type LateFulfilments struct {
	Items      []any  `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// listLateFulfilments lists supplier successes that came after their
// order was refunded: unresolved ones, or all with ?all=true; paged by
// order id (?after=, ?limit= up to 500).
func (s *Server) listLateFulfilments(c echo.Context) error {
	all := c.QueryParam("all") == "true"
	return s.fulfilmentPage(c, func(f *fulfilment.Service, after string, limit int) ([]store.Fulfilment, error) {
		return f.Late(c.Request().Context(), after, limit, all)
	})
}

// fulfilmentStates are the states ?state= of GET /v1/admin/fulfilment
// names.
var fulfilmentStates = []string{store.FulfilmentDispatch, store.FulfilmentWaiting, store.FulfilmentDone, store.FulfilmentFailed}

// listFulfilments lists the orders' fulfilment work rows, in the states of
// ?state= (comma-separated: dispatch and waiting are orders still
// fulfilling, failed ones were refused or past their deadline and
// refunded; absent: every state), paged by order id (?after=, ?limit= up
// to 500).
func (s *Server) listFulfilments(c echo.Context) error {
	var states []string
	if v := c.QueryParam("state"); v != "" {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(fulfilmentStates, st) {
				return invalidField("state", "state %q is none of %s", st, strings.Join(fulfilmentStates, ", "))
			}
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	}
	return s.fulfilmentPage(c, func(f *fulfilment.Service, after string, limit int) ([]store.Fulfilment, error) {
		return f.List(c.Request().Context(), states, after, limit)
	})
}

// fulfilmentPage answers one page of work rows read by list, after the
// order id ?after= (at most 40 bytes), ?limit= rows (default 100, at most
// 500), with the next page's cursor.
func (s *Server) fulfilmentPage(c echo.Context, list func(f *fulfilment.Service, after string, limit int) ([]store.Fulfilment, error)) error {
	f, err := s.fulfiller()
	if err != nil {
		return err
	}
	limit := 100
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return problem(CodeInvalidLimit, map[string]any{"max": 500}, "limit is 1 to 500")
		}
		limit = n
	}
	after := c.QueryParam("after")
	if len(after) > 40 {
		return problem(CodeInvalidCursor, nil, "after is an order id")
	}
	rows, err := list(f, after, limit+1)
	if err != nil {
		return err
	}
	out := LateFulfilments{Items: []any{}}
	for i, r := range rows {
		if i == limit {
			out.NextCursor = rows[i-1].OrderID
			break
		}
		out.Items = append(out.Items, r)
	}
	return c.JSON(http.StatusOK, out)
}

// getFulfilment shows an order's fulfilment work row.
func (s *Server) getFulfilment(c echo.Context) error {
	f, err := s.fulfiller()
	if err != nil {
		return err
	}
	row, err := f.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return fulfilmentProblem(err)
	}
	return c.JSON(http.StatusOK, row)
}

// resolveLateFulfilment records that an operator settled a late success
// with its supplier. Audited.
func (s *Server) resolveLateFulfilment(c echo.Context) error {
	f, err := s.fulfiller()
	if err != nil {
		return err
	}
	before, err := f.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return fulfilmentProblem(err)
	}
	row, err := f.ResolveLate(c.Request().Context(), before.OrderID, principalOf(c).ID)
	if err != nil {
		return fulfilmentProblem(err)
	}
	s.audit(c, ActionFulfilmentResolve, "resolve", "fulfilment_late", row.OrderID, before, row)
	return c.JSON(http.StatusOK, row)
}

// supplierEvent refuses the events only a supplier's answers fire.
func supplierEvent(event string) error {
	if event != lifecycle.EventFulfil && event != lifecycle.EventFulfilFail {
		return nil
	}
	return problem(CodeFulfilmentBySupplier, map[string]any{"event": event},
		"%s is fired by the supplier's answer (fulfilment.dispatch, fulfilment.query or its signed callback), never directly", event)
}
