package api

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/store"
)

// orgPattern is an organisation node id: lower-case letters, digits and
// dashes, so that a path never holds a LIKE wildcard.
var orgPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

const (
	maxOrgName = 200
	maxOrgKind = 32
)

// OrgRequest is the body of POST /v1/admin/orgs.
type OrgRequest struct {
	ID string `json:"id"`
	// Parent is the id of the parent node; "" makes a root.
	Parent string `json:"parent,omitempty"`
	Name   string `json:"name,omitempty"`
	// Kind is free text, e.g. hq, region, agent1, agent2, store.
	Kind string `json:"kind,omitempty"`
}

// OrgMoveRequest is the body of POST /v1/admin/orgs/{id}/move.
type OrgMoveRequest struct {
	// Parent is the new parent's id; "" makes the node a root.
	Parent *string `json:"parent"`
}

// OrgView is an organisation node as the API shows it. Path is its
// materialised path, e.g. "/hq/east/sh-01/": a principal of the node acts on
// orders owned anywhere under it.
type OrgView struct {
	ID        string    `json:"id"`
	Parent    string    `json:"parent,omitempty"`
	Path      string    `json:"path"`
	Name      string    `json:"name,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// OrgList answers GET /v1/admin/orgs: nodes in path order (a subtree is
// contiguous), and the cursor of the next page, empty at the end.
type OrgList struct {
	Items      []OrgView `json:"items"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

func orgView(o store.Org) OrgView {
	return OrgView{ID: o.ID, Parent: o.Parent, Path: o.Path, Name: o.Name, Kind: o.Kind,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
}

func orgNotFound(id string) *Problem {
	return problem(CodeOrgNotFound, map[string]any{"org": id}, "organisation node %s not found", id)
}

// orgProblem maps the store's tree refusals to problems.
func orgProblem(err error, id, parent string) error {
	var inUse *store.OrgInUseError
	switch {
	case errors.As(err, &inUse):
		return problem(CodeOrgInUse, map[string]any{"org": id, "children": inUse.Children, "principals": inUse.Principals,
			"orders": inUse.Orders}, "organisation node %s still has %d children, %d principals and %d orders: move or remove them first",
			id, inUse.Children, inUse.Principals, inUse.Orders)
	case errors.Is(err, store.ErrOrgCycle):
		return problem(CodeOrgCycle, map[string]any{"org": id, "parent": parent},
			"organisation node %s cannot move under %s, which is inside its own subtree", id, parent)
	case errors.Is(err, store.ErrDuplicate):
		return problem(CodeOrgExists, map[string]any{"org": id}, "organisation node %s exists", id)
	case errors.Is(err, store.ErrInvalid):
		return invalidField("id", "%s", err.Error())
	}
	return err
}

func orgParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !orgPattern.MatchString(id) {
		return "", orgNotFound(id)
	}
	return id, nil
}

// createOrg adds a node under an existing parent (or a root).
func (s *Server) createOrg(c echo.Context) error {
	var req OrgRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	switch {
	case !orgPattern.MatchString(req.ID):
		return invalidField("id", "an organisation id is 1 to 64 of a-z 0-9 -, starting with a letter or digit; got %q", req.ID)
	case req.Parent != "" && !orgPattern.MatchString(req.Parent):
		return invalidField("parent", "parent %q is not an organisation id", req.Parent)
	case utf8.RuneCountInString(req.Name) > maxOrgName:
		return invalidField("name", "name is longer than %d characters", maxOrgName)
	case len(req.Kind) > maxOrgKind:
		return invalidField("kind", "kind is longer than %d bytes", maxOrgKind)
	}
	ctx := c.Request().Context()
	o, err := s.store.CreateOrg(ctx, store.Org{ID: req.ID, Parent: req.Parent, Name: req.Name, Kind: req.Kind})
	if errors.Is(err, store.ErrNotFound) {
		return problem(CodeInvalidRequest, map[string]any{"field": "parent"}, "parent %s is not an organisation node", req.Parent)
	}
	if err != nil {
		return orgProblem(err, req.ID, req.Parent)
	}
	// The store changes the tree in transactions of its own: the entry is
	// recorded after the change.
	s.audit(c, ActionOrgsWrite, "create", auditOrg, o.ID, nil, orgView(o))
	c.Response().Header().Set(echo.HeaderLocation, "/v1/admin/orgs/"+o.ID)
	return c.JSON(http.StatusCreated, orgView(o))
}

func (s *Server) getOrg(c echo.Context) error {
	id, err := orgParam(c)
	if err != nil {
		return err
	}
	o, err := s.store.GetOrg(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orgView(o))
}

// isOrgPath reports whether p is a materialised path the tree could hold
// ("/hq/east/": node ids between slashes), as the cursors of listOrgs are.
func isOrgPath(p string) bool {
	if len(p) < 3 || len(p) > 1024 || p[0] != '/' || p[len(p)-1] != '/' {
		return false
	}
	for id := range strings.SplitSeq(p[1:len(p)-1], "/") {
		if !orgPattern.MatchString(id) {
			return false
		}
	}
	return true
}

// listOrgs pages through the tree in path order; ?under=ID keeps one
// subtree (the node included).
func (s *Server) listOrgs(c echo.Context) error {
	qp := c.QueryParams()
	q := store.OrgQuery{Under: qp.Get("under"), After: qp.Get("cursor")}
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	q.Limit = limit
	if q.Under != "" && !orgPattern.MatchString(q.Under) {
		return orgNotFound(q.Under)
	}
	if qp.Has("cursor") && !isOrgPath(q.After) {
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	}
	want := q.Limit
	q.Limit++
	orgs, err := s.store.ListOrgs(c.Request().Context(), q)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(q.Under)
	}
	if errors.Is(err, store.ErrInvalid) {
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	}
	if err != nil {
		return err
	}
	out := OrgList{Items: make([]OrgView, 0, min(len(orgs), want))}
	for i, o := range orgs {
		if i == want {
			out.NextCursor = orgs[i-1].Path
			break
		}
		out.Items = append(out.Items, orgView(o))
	}
	return c.JSON(http.StatusOK, out)
}

// moveOrg moves a node and its subtree under another parent. Access follows
// at once: orders name their owning node, not its path.
func (s *Server) moveOrg(c echo.Context) error {
	id, err := orgParam(c)
	if err != nil {
		return err
	}
	var req OrgMoveRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Parent == nil {
		return invalidField("parent", `parent is required: the new parent's id, or "" to make the node a root`)
	}
	parent := *req.Parent
	if parent != "" && !orgPattern.MatchString(parent) {
		return invalidField("parent", "parent %q is not an organisation id", parent)
	}
	ctx := c.Request().Context()
	before, err := s.store.GetOrg(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(id)
	} else if err != nil {
		return err
	}
	o, err := s.store.MoveOrg(ctx, id, parent)
	if errors.Is(err, store.ErrNotFound) {
		return problem(CodeInvalidRequest, map[string]any{"field": "parent"}, "parent %s is not an organisation node", parent)
	}
	if err != nil {
		return orgProblem(err, id, parent)
	}
	s.audit(c, ActionOrgsWrite, "move", auditOrg, id, orgView(before), orgView(o))
	return c.JSON(http.StatusOK, orgView(o))
}

// removeOrg deletes an empty node: one with no children, principals or
// orders (409 org_in_use names what is left).
func (s *Server) removeOrg(c echo.Context) error {
	id, err := orgParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	before, err := s.store.GetOrg(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(id)
	} else if err != nil {
		return err
	}
	err = s.store.RemoveOrg(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(id)
	}
	if err != nil {
		return orgProblem(err, id, "")
	}
	s.audit(c, ActionOrgsWrite, "delete", auditOrg, id, orgView(before), nil)
	return c.NoContent(http.StatusNoContent)
}
