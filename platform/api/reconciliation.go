package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/reconcile"
)

// Function-level actions of the reconciliation endpoints.
const (
	ActionReconcileRead    = "admin.reconciliation.read"
	ActionReconcileRun     = "admin.reconciliation.run"
	ActionReconcileResolve = "admin.reconciliation.resolve"
)

// Codes of the reconciliation endpoints.
const (
	// CodeReconcileBusy: a run is in progress (on this node or another).
	CodeReconcileBusy = "reconciliation_busy"
	// CodeReconcileDisabled: the server runs no reconciliation.
	CodeReconcileDisabled = "reconciliation_disabled"
	CodeRunNotFound       = "run_not_found"
	CodeMismatchNotFound  = "mismatch_not_found"
	// CodeMismatchResolved: the mismatch is resolved already.
	CodeMismatchResolved = "mismatch_resolved"
)

// maxResolveNote bounds the note of a resolution.
const maxResolveNote = 1000

// registerReconciliation adds the reconciliation routes (see
// docs/operations.md, Reconciliation).
func (s *Server) registerReconciliation(add func(method, path string, h echo.HandlerFunc, a access)) {
	add(http.MethodPost, "/v1/admin/reconciliation/runs", s.startReconciliation, function(ActionReconcileRun))
	add(http.MethodGet, "/v1/admin/reconciliation/runs", s.listReconciliationRuns, function(ActionReconcileRead))
	add(http.MethodGet, "/v1/admin/reconciliation/runs/:id", s.getReconciliationRun, function(ActionReconcileRead))
	add(http.MethodGet, "/v1/admin/reconciliation/mismatches", s.listMismatches, function(ActionReconcileRead))
	add(http.MethodGet, "/v1/admin/reconciliation/mismatches/:id", s.getMismatch, function(ActionReconcileRead))
	add(http.MethodPost, "/v1/admin/reconciliation/mismatches/:id/resolve", s.resolveMismatch, function(ActionReconcileResolve))
	add(http.MethodGet, "/v1/admin/reconciliation/flags", s.listFlags, function(ActionReconcileRead))
	add(http.MethodGet, "/v1/admin/orders/:id/flag", s.getOrderFlag, function(ActionReconcileRead))
}

func (s *Server) reconciler() (*reconcile.Runner, error) {
	if s.reconcile == nil {
		return nil, &Problem{Code: CodeReconcileDisabled, Detail: "this server runs no reconciliation"}
	}
	return s.reconcile, nil
}

// reconcileProblem maps the runner's errors to problems.
func reconcileProblem(err error) error {
	switch {
	case errors.Is(err, reconcile.ErrBusy):
		return &Problem{Code: CodeReconcileBusy, Detail: "a reconciliation run is in progress; retry when it has finished", Err: err}
	case errors.Is(err, reconcile.ErrResolved):
		return &Problem{Code: CodeMismatchResolved, Detail: "the mismatch is resolved already", Err: err}
	case errors.Is(err, reconcile.ErrBadKind):
		return invalidField("kind", "kind is full or incremental")
	}
	return err
}

// RunRequest is the body of POST /v1/admin/reconciliation/runs.
type RunRequest struct {
	// Kind is "full" or "incremental" (the default).
	Kind string `json:"kind"`
}

// startReconciliation starts a run and answers 202 with it (status
// running); GET .../runs/{id} shows when it has finished. 409
// reconciliation_busy while another run holds the lease. Audited.
func (s *Server) startReconciliation(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	var req RunRequest
	if c.Request().ContentLength != 0 {
		if err := s.decode(c, &req, decodeOptions{}); err != nil {
			return err
		}
	}
	if req.Kind == "" {
		req.Kind = reconcile.KindIncremental
	}
	if req.Kind != reconcile.KindFull && req.Kind != reconcile.KindIncremental {
		return invalidField("kind", "kind is full or incremental; got %q", req.Kind)
	}
	run, err := r.Start(c.Request().Context(), req.Kind, "api")
	if err != nil {
		return reconcileProblem(err)
	}
	s.audit(c, ActionReconcileRun, "create", "reconciliation_run", run.ID, nil, run)
	return c.JSON(http.StatusAccepted, run)
}

// RunList answers GET /v1/admin/reconciliation/runs.
type RunList struct {
	Runs []reconcile.Run `json:"runs"`
	// NextCursor is the cursor of the next (older) page; empty at the end.
	NextCursor string `json:"nextCursor,omitempty"`
}

// listReconciliationRuns pages through runs, newest first
// (?limit=&cursor=).
func (s *Server) listReconciliationRuns(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	cursor := qp.Get("cursor")
	if qp.Has("cursor") && !runIDPattern(cursor) {
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	}
	runs, err := r.ListRuns(c.Request().Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	out := RunList{Runs: runs[:min(len(runs), limit)]}
	if len(runs) > limit {
		out.NextCursor = out.Runs[len(out.Runs)-1].ID
	}
	return c.JSON(http.StatusOK, out)
}

func runIDPattern(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func (s *Server) getReconciliationRun(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	id := c.Param("id")
	notFound := &Problem{Code: CodeRunNotFound, Detail: "no reconciliation run of that id"}
	if !runIDPattern(id) {
		return notFound
	}
	run, err := r.GetRun(c.Request().Context(), id)
	if errors.Is(err, reconcile.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// MismatchView is a mismatch as the API shows it, with its evidence.
type MismatchView struct {
	reconcile.Mismatch
	Evidence json.RawMessage `json:"evidence"`
}

func mismatchView(m reconcile.Mismatch) MismatchView {
	ev := json.RawMessage(m.Evidence)
	if !json.Valid(ev) {
		ev = json.RawMessage("null")
	}
	return MismatchView{Mismatch: m, Evidence: ev}
}

// MismatchList answers GET /v1/admin/reconciliation/mismatches.
type MismatchList struct {
	Mismatches []MismatchView `json:"mismatches"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// listMismatches pages through mismatches, oldest first, filtered by
// ?status=open|resolved, ?check=, ?orderId=, ?runId= (the run that saw
// them last).
func (s *Server) listMismatches(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	q := reconcile.MismatchQuery{Status: qp.Get("status"), Check: qp.Get("check"), OrderID: qp.Get("orderId"), RunID: qp.Get("runId"),
		Limit: limit + 1}
	if q.Status != "" && q.Status != reconcile.StatusOpen && q.Status != reconcile.StatusResolved {
		return invalidField("status", "status is open or resolved; got %q", q.Status)
	}
	if q.Check != "" && !slices.Contains(reconcile.Checks, q.Check) {
		return invalidField("check", "check is one of %v; got %q", reconcile.Checks, q.Check)
	}
	if len(q.OrderID) > 40 {
		return invalidField("orderId", "an order id is at most 40 characters")
	}
	if q.RunID != "" && !runIDPattern(q.RunID) {
		return invalidField("runId", "not a run id: %q", q.RunID)
	}
	if qp.Has("cursor") {
		n, err := strconv.ParseInt(qp.Get("cursor"), 10, 64)
		if err != nil || n <= 0 {
			return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
		}
		q.After = n
	}
	found, err := r.ListMismatches(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := MismatchList{Mismatches: make([]MismatchView, 0, min(len(found), limit))}
	for _, m := range found[:min(len(found), limit)] {
		out.Mismatches = append(out.Mismatches, mismatchView(m))
	}
	if len(found) > limit {
		out.NextCursor = strconv.FormatInt(found[limit-1].ID, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func mismatchID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &Problem{Code: CodeMismatchNotFound, Detail: "no mismatch of that id"}
	}
	return id, nil
}

func (s *Server) getMismatch(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	id, err := mismatchID(c)
	if err != nil {
		return err
	}
	m, err := r.GetMismatch(c.Request().Context(), id)
	if errors.Is(err, reconcile.ErrNotFound) {
		return &Problem{Code: CodeMismatchNotFound, Detail: "no mismatch of that id"}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mismatchView(m))
}

// ResolveRequest is the body of POST .../mismatches/{id}/resolve.
type ResolveRequest struct {
	// Note says what the operator found or did; required.
	Note string `json:"note"`
}

// resolveMismatch marks an open mismatch resolved by the caller, with a
// note; the order's flag goes when its last open mismatch is resolved.
// 409 mismatch_resolved when it was resolved already. Audited.
func (s *Server) resolveMismatch(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	id, err := mismatchID(c)
	if err != nil {
		return err
	}
	var req ResolveRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Note == "" || len(req.Note) > maxResolveNote {
		return invalidField("note", "note is 1 to %d bytes", maxResolveNote)
	}
	ctx := c.Request().Context()
	before, err := r.GetMismatch(ctx, id)
	if errors.Is(err, reconcile.ErrNotFound) {
		return &Problem{Code: CodeMismatchNotFound, Detail: "no mismatch of that id"}
	}
	if err != nil {
		return err
	}
	m, err := r.Resolve(ctx, id, principalOf(c).ID, req.Note)
	if err != nil {
		return reconcileProblem(err)
	}
	s.audit(c, ActionReconcileResolve, "resolve", "reconciliation_mismatch", strconv.FormatInt(id, 10),
		mismatchView(before), mismatchView(m))
	return c.JSON(http.StatusOK, mismatchView(m))
}

// FlagList answers GET /v1/admin/reconciliation/flags.
type FlagList struct {
	Flags      []reconcile.Flag `json:"flags"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

// listFlags pages through the orders flagged for an operator, by order id.
func (s *Server) listFlags(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	cursor := qp.Get("cursor")
	if len(cursor) > 40 {
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	}
	flags, err := r.ListFlags(c.Request().Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	out := FlagList{Flags: flags[:min(len(flags), limit)]}
	if len(flags) > limit {
		out.NextCursor = out.Flags[len(out.Flags)-1].OrderID
	}
	return c.JSON(http.StatusOK, out)
}

// OrderFlagView answers GET /v1/admin/orders/{id}/flag.
type OrderFlagView struct {
	OrderID string `json:"orderId"`
	// Flagged is true while an open mismatch names the order.
	Flagged bool            `json:"flagged"`
	Flag    *reconcile.Flag `json:"flag,omitempty"`
}

// getOrderFlag tells whether reconciliation flagged an order for an
// operator, and why (the admin order view shows it).
func (s *Server) getOrderFlag(c echo.Context) error {
	r, err := s.reconciler()
	if err != nil {
		return err
	}
	id := c.Param("id")
	if id == "" || len(id) > 40 {
		return invalidField("id", "an order id is 1 to 40 characters")
	}
	f, ok, err := r.FlagOf(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := OrderFlagView{OrderID: id, Flagged: ok}
	if ok {
		out.Flag = &f
	}
	return c.JSON(http.StatusOK, out)
}
