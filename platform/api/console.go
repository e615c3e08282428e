package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/store"
)

// Me answers GET /v1/me: who the caller is, and which function-level
// actions the policy allows it, so that a client (the admin console) shows
// only what it may use. The server still decides every request.
type Me struct {
	ID         string          `json:"id"`
	Roles      []string        `json:"roles"`
	Org        string          `json:"org,omitempty"`
	OrgPath    string          `json:"orgPath,omitempty"`
	Identities []string        `json:"identities"`
	Can        map[string]bool `json:"can"`
}

// meActions are the function-level actions GET /v1/me reports on.
var meActions = []string{ActionIdentityList, ActionIdentityCreate, ActionExtensionsRead, ActionOrderList, ActionOrderPlace,
	ActionBizpacksRead, ActionBizpacksWrite, ActionAuditRead, ActionOrgsRead, ActionOrgsWrite, ActionPrincipalsRead,
	ActionPrincipalsWrite, ActionPoliciesRead}

func (s *Server) me(c echo.Context) error {
	p := principalOf(c)
	out := Me{ID: p.ID, Roles: nonNil(p.Roles), Org: p.Org, OrgPath: p.OrgPath, Identities: nonNil(p.Identities), Can: map[string]bool{}}
	for _, a := range meActions {
		d, err := s.decide(c, authz.Input{Principal: p.subject(), Action: a})
		out.Can[a] = err == nil && d.Allow
	}
	return c.JSON(http.StatusOK, out)
}

// PointList answers GET /v1/admin/extension-points: the catalogue.
type PointList struct {
	Items []PointView `json:"items"`
}

// PointView is one extension point: its contract as the kernel enforces it.
type PointView struct {
	Name    string `json:"name"`
	Domain  string `json:"domain"`
	Doc     string `json:"doc"`
	Reducer string `json:"reducer"`
	// Policy is what a failure does: "fail", "fallback" or "skip".
	Policy         string `json:"policy"`
	DeadlineMillis int64  `json:"deadlineMillis"`
	Request        string `json:"request"`
	Response       string `json:"response"`
}

func (s *Server) listPoints(c echo.Context) error {
	out := PointList{Items: []PointView{}}
	if s.kernel != nil {
		for _, p := range s.kernel.Catalogue().Points() {
			out.Items = append(out.Items, PointView{Name: p.Name, Domain: p.Domain, Doc: p.Doc, Reducer: p.Reducer, Policy: p.Policy,
				DeadlineMillis: p.Deadline.Milliseconds(), Request: p.Request, Response: p.Response})
		}
	}
	return c.JSON(http.StatusOK, out)
}

// ProductList answers GET /v1/admin/products: the products identities may
// enable.
type ProductList struct {
	Items []ProductView `json:"items"`
}

// ProductView is one product: a capability bundle of bindings.
type ProductView struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Doc      string `json:"doc"`
	Priority int    `json:"priority"`
	// PaymentTimeout the product sets, unless the identity sets one.
	PaymentTimeout string `json:"paymentTimeout"`
	// Points the product binds, sorted.
	Points []string `json:"points"`
	// Lifecycle reports whether the product shapes the lifecycle.
	Lifecycle bool `json:"lifecycle"`
}

func (s *Server) listProducts(c echo.Context) error {
	out := ProductList{Items: []ProductView{}}
	if s.kernel != nil {
		for _, p := range s.kernel.Registry().Products() {
			v := ProductView{Name: p.Name, Version: p.Version, Doc: p.Doc, Priority: p.Priority,
				PaymentTimeout: durationText(p.PaymentTimeout), Points: []string{}, Lifecycle: p.Lifecycle != nil || p.LifecyclePatch != nil}
			seen := map[string]bool{}
			for _, b := range p.Bindings {
				if !seen[b.Point] {
					seen[b.Point] = true
					v.Points = append(v.Points, b.Point)
				}
			}
			slices.Sort(v.Points)
			out.Items = append(out.Items, v)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// AuditList answers GET /v1/admin/audit, newest first.
type AuditList struct {
	Items      []store.AuditEntry `json:"items"`
	NextCursor string             `json:"nextCursor,omitempty"`
}

func (s *Server) listAudit(c echo.Context) error {
	qp := c.QueryParams()
	return s.auditPage(c, qp.Get("targetType"), qp.Get("targetId"))
}

// identityAudit answers the audit of one identity to whoever may read the
// identity (an operator granted it included), not only to admins.
func (s *Server) identityAudit(c echo.Context) error {
	if _, _, _, err := s.readableIdentity(c, ActionIdentityRead); err != nil {
		return err
	}
	return s.auditPage(c, resourceIdentity, c.Param("code"))
}

// auditPage answers one page of the entries about a target (any when
// empty), newest first, by the request's limit and cursor.
func (s *Server) auditPage(c echo.Context, targetType, targetID string) error {
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	// One more than the page, to know whether another page follows.
	q := store.AuditQuery{TargetType: targetType, TargetID: targetID, Limit: limit + 1}
	if qp.Has("cursor") {
		n, err := strconv.ParseInt(qp.Get("cursor"), 10, 64)
		if err != nil || n <= 0 {
			return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
		}
		q.Before = n
	}
	items, err := s.store.ListAudit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	more := len(items) > limit
	out := AuditList{Items: items[:min(len(items), limit)]}
	if more {
		out.NextCursor = strconv.FormatInt(out.Items[len(out.Items)-1].ID, 10)
	}
	return c.JSON(http.StatusOK, out)
}

// auditEntry describes a change the caller makes; before and after are
// marshalled to JSON (nil for none).
func (s *Server) auditEntry(c echo.Context, action, verb, targetType, targetID string, before, after any) store.AuditEntry {
	e := store.AuditEntry{Actor: principalOf(c).ID, Action: action, Verb: verb, TargetType: targetType, TargetID: targetID,
		TraceID: traceID(c)}
	if before != nil {
		e.Before = mustJSON(before)
	}
	if after != nil {
		e.After = mustJSON(after)
	}
	return e
}

// audit records a change that has been made. The change is already
// committed, so a failure to record it cannot undo it: it is logged as an
// error with the whole entry, so that nothing is silently lost.
func (s *Server) audit(c echo.Context, action, verb, targetType, targetID string, before, after any) {
	e := s.auditEntry(c, action, verb, targetType, targetID, before, after)
	if err := s.store.RecordAudit(c.Request().Context(), e); err != nil {
		s.log.ErrorContext(c.Request().Context(), "audit entry not recorded", "traceId", traceID(c), "actor", e.Actor,
			"action", e.Action, "verb", e.Verb, "targetType", e.TargetType, "targetId", e.TargetID,
			"before", string(e.Before), "after", string(e.After), "error", err)
	}
}
