package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

// Actions the API asks the policy about (package tmf.authz). A route names
// one; docs/permissions.md lists them with the rules of the shipped policy.
const (
	ActionCatalogRead = "catalog.read"
	ActionOrderPlace  = "order.place"
	// ActionOrderChooseIdentity: naming an order's bizCode that the
	// resolution rules would not give it (resource: the identity).
	ActionOrderChooseIdentity = "order.choose_identity"
	ActionOrderList           = "order.list"
	ActionOrderRead           = "order.read"
	ActionOrderEvent          = "order.event"
	ActionOrderTrace          = "order.trace"
	ActionOrderPay            = "order.pay"
	ActionOrderPayments       = "order.payments.read"
	ActionOrderReturn         = "order.return"
	ActionOrderReturns        = "order.returns.read"
	// The steps of a return after it was opened (order.return).
	ActionOrderReturnCancel  = "order.return.cancel"
	ActionOrderReturnApprove = "order.return.approve"
	ActionOrderReturnReject  = "order.return.reject"
	ActionOrderReturnReceive = "order.return.receive"
	ActionCouponRead         = "coupon.read"
	ActionCreditReadOwn      = "credit.read_own"
	ActionSKUsWrite          = "admin.skus.write"
	ActionStockRead          = "admin.stock.read"
	ActionStockWrite         = "admin.stock.write"
	ActionStockAudit         = "admin.stock.audit"
	ActionPrincipalsRead     = "admin.principals.read"
	ActionPrincipalsWrite    = "admin.principals.write"
	ActionOrgsRead           = "admin.orgs.read"
	ActionOrgsWrite          = "admin.orgs.write"
	ActionBizpacksRead       = "admin.bizpacks.read"
	ActionBizpacksWrite      = "admin.bizpacks.write"
	ActionPromotionsRead     = "admin.promotions.read"
	ActionPromotionsWrite    = "admin.promotions.write"
	ActionCreditRead         = "admin.credit.read"
	ActionCreditWrite        = "admin.credit.write"
	ActionPoliciesRead       = "admin.policies.read"
	ActionPoliciesWrite      = "admin.policies.write"
	ActionAuditRead          = "admin.audit.read"
	ActionMe                 = "me.read"
	ActionIdentityList       = "identity.list"
	ActionIdentityCreate     = "identity.create"
	ActionIdentityRead       = "identity.read"
	ActionIdentityWrite      = "identity.write"
	ActionExtensionsRead     = "extensions.read"
	resourceOrder            = "order"
	resourceCoupon           = "coupon"
	policyDeniedDetail       = "the access policy could not decide (the cause is logged): denied"
	forbiddenActionPattern   = "principal %s may not %s"
)

// access is how a route is authorised: the policy's action, asked before
// the handler runs (a function-level action: the principal, no resource),
// or by the handler once it has loaded the resource the action is on.
type access struct {
	action     string
	onResource bool
}

// function is a route whose action the policy decides from the principal alone.
func function(action string) access { return access{action: action} }

// onResource is a route whose handler asks the policy about the resource it
// loads (404 when the principal may not know it exists, 403 when it may but
// not act).
func onResource(action string) access { return access{action: action, onResource: true} }

// guard authenticates the caller and, for a function-level action, asks
// the policy: 403 forbidden when denied, also when the policy fails.
func (s *Server) guard(a access) echo.MiddlewareFunc {
	authn := s.authenticate()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		check := func(c echo.Context) error {
			// Answers to an authenticated caller carry its data (orders,
			// addresses, tokens): no cache along the way may keep them.
			c.Response().Header().Set("Cache-Control", "no-store")
			if a.onResource {
				return next(c)
			}
			p := principalOf(c)
			d, err := s.decide(c, authz.Input{Principal: p.subject(), Action: a.action})
			if err != nil {
				return problem(CodeForbidden, map[string]any{"action": a.action}, policyDeniedDetail)
			}
			if !d.Allow {
				return problem(CodeForbidden, map[string]any{"action": a.action}, forbiddenActionPattern, p.ID, a.action)
			}
			return next(c)
		}
		return authn(check)
	}
}

// decide asks the policy; an evaluation error or timeout is logged and
// returned, and the caller denies.
func (s *Server) decide(c echo.Context, in authz.Input) (authz.Decision, error) {
	d, err := s.policy.Decide(c.Request().Context(), in)
	if err != nil {
		s.log.ErrorContext(c.Request().Context(), "policy decision failed: denied", "traceId", traceID(c),
			"action", in.Action, "principal", in.Principal.ID, "error", err)
		return authz.Decision{}, err
	}
	return d, nil
}

// orderResource is an order as the policy sees it: its buyer, identity and
// the current path of the organisation node that owns it (so that moving a
// subtree moves access to its orders at once).
func (s *Server) orderResource(ctx context.Context, v order.View) (*authz.Resource, error) {
	path, err := s.store.OrgPath(ctx, v.OwnerOrg)
	if errors.Is(err, store.ErrNotFound) {
		path = "" // owner removed from the tree: only the buyer and the policy's wider rules reach it
	} else if err != nil {
		return nil, fmt.Errorf("owner of order %s: %w", v.ID, err)
	}
	return &authz.Resource{Type: resourceOrder, ID: v.ID, BuyerID: v.BuyerID, OwnerPath: path, BizCode: v.BizCode}, nil
}

// orderFor loads the order of the URL and asks the policy whether the
// caller may take action on it (event: the lifecycle event of order.event).
// An order the caller may not know of is answered exactly as a missing one
// (404 order_not_found); one it may see but not act on is 403.
func (s *Server) orderFor(c echo.Context, action, event string) (order.View, error) {
	v, res, err := s.loadOrder(c)
	if err != nil {
		return order.View{}, err
	}
	if err := s.authorizeOrder(c, v, res, action, event); err != nil {
		return order.View{}, err
	}
	return v, nil
}

// loadOrder reads the order of the URL and its policy resource; 404 when
// there is none.
func (s *Server) loadOrder(c echo.Context) (order.View, *authz.Resource, error) {
	id := c.Param("id")
	if id == "" || len(id) > maxOrderID {
		return order.View{}, nil, orderNotFound(id)
	}
	ctx := c.Request().Context()
	v, err := s.svc.Get(ctx, id)
	if oe := (*order.Error)(nil); errors.As(err, &oe) && oe.Code == order.CodeNotFound {
		return order.View{}, nil, orderNotFound(id)
	}
	if err != nil {
		return order.View{}, nil, err
	}
	res, err := s.orderResource(ctx, v)
	if err != nil {
		return order.View{}, nil, err
	}
	return v, res, nil
}

// authorizeOrder asks the policy about action (and event) on a loaded
// order: nil when allowed, else the 404 or 403 problem orderFor describes.
func (s *Server) authorizeOrder(c echo.Context, v order.View, res *authz.Resource, action, event string) error {
	r := *res
	r.Event = event
	p := principalOf(c)
	d, err := s.decide(c, authz.Input{Principal: p.subject(), Action: action, Resource: &r})
	if err != nil || !d.Visible {
		return orderNotFound(v.ID)
	}
	setBizCode(c, v.BizCode)
	if d.Allow {
		return nil
	}
	if action == ActionOrderEvent {
		return problem(CodeForbiddenEvent, map[string]any{"event": event, "permittedEvents": nonNil(d.Events)},
			"principal %s may not fire %s on order %s", p.ID, event, v.ID)
	}
	return problem(CodeForbidden, map[string]any{"action": action}, forbiddenActionPattern+" on order %s", p.ID, action, v.ID)
}

// mayRead reports whether the caller may read the order (false when it
// does not exist or the policy fails).
func (s *Server) mayRead(c echo.Context, orderID string) bool {
	ctx := c.Request().Context()
	v, err := s.svc.Get(ctx, orderID)
	if err != nil {
		return false
	}
	res, err := s.orderResource(ctx, v)
	if err != nil {
		return false
	}
	d, err := s.decide(c, authz.Input{Principal: principalOf(c).subject(), Action: ActionOrderRead, Resource: res})
	return err == nil && d.Allow
}

// listAccess is the caller's filter for a list action, from the policy's
// partial evaluation: rows are restricted in SQL, so paging stays exact.
func (s *Server) listAccess(c echo.Context, action string) (*store.Access, error) {
	p := principalOf(c)
	f, err := s.policy.Filter(c.Request().Context(), p.subject(), action)
	if err != nil {
		s.log.ErrorContext(c.Request().Context(), "policy filter failed: denied", "traceId", traceID(c),
			"action", action, "principal", p.ID, "error", err)
		return nil, problem(CodeForbidden, map[string]any{"action": action}, policyDeniedDetail)
	}
	return storeAccess(f), nil
}

// storeAccess is the policy's filter in the store's terms.
func storeAccess(f authz.Filter) *store.Access {
	a := &store.Access{All: f.All}
	for _, conj := range f.Any {
		conds := make([]store.Cond, len(conj))
		for i, c := range conj {
			conds[i] = store.Cond{Field: c.Field, Op: string(c.Op), Values: c.Values}
		}
		a.Any = append(a.Any, conds)
	}
	return a
}

// nonNil makes a nil slice empty, so that it is written as [] in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// forbidden is the 403 of a function-level refusal made by a handler.
func forbidden(p *principal, action string) *Problem {
	return &Problem{Code: CodeForbidden, Status: http.StatusForbidden,
		Detail: fmt.Sprintf(forbiddenActionPattern, p.ID, action), Fields: map[string]any{"action": action}}
}
