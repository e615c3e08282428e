package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/store"
)

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
