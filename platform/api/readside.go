package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
)

// HeaderReadLevel says which level answered an order list or read:
// "readmodel", "store" (the order store, by design: a buyer's own list, or
// no read model), "replica" (a read replica of the order store, in place
// of "store": replicas.go), "store-fallback" (the order store because the
// read model failed or missed its deadline) or, for a read by id, "cache".
const HeaderReadLevel = "X-TMF-Read-Level"

// Read levels of HeaderReadLevel.
const (
	ReadLevelReadModel = "readmodel"
	ReadLevelStore     = "store"
	ReadLevelFallback  = "store-fallback"
	ReadLevelCache     = "cache"
)

// ActionReadModelRead is the policy action of GET /v1/admin/readmodel
// (admin only, as every admin.* action).
const ActionReadModelRead = "admin.readmodel.read"

// Problem codes of the read model.
const (
	// CodeReadModelUnavailable: a search only the read model serves, while
	// it is down or slow (503, Retry-After).
	CodeReadModelUnavailable = "read_model_unavailable"
	// CodeSearchNotConfigured: a search filter of the read model on a
	// server without one (400).
	CodeSearchNotConfigured = "search_not_configured"
)

func init() {
	problemCodes[CodeReadModelUnavailable] = codeInfo{http.StatusServiceUnavailable, "Read model unavailable"}
	problemCodes[CodeSearchNotConfigured] = codeInfo{http.StatusBadRequest, "Search not configured"}
}

// ReadSide is the order read model as the API uses it (Config.ReadSide):
// back-office lists and searches, and reads by id level by level.
type ReadSide struct {
	Model *readmodel.Model
	// Reader reads an order by id cache → read model → store; nil reads
	// the store.
	Reader  *readmodel.Reader
	Metrics *readmodel.Metrics
	// Status reports the read model's state for GET /v1/admin/readmodel.
	Status func(ctx context.Context) readmodel.Status
	// ListTimeout bounds a list on the read model (default 1s, or less
	// when the request's own deadline is nearer); past it, the order store
	// answers.
	ListTimeout time.Duration
}

// search are the list filters only the read model serves.
type search struct {
	statuses           []string
	org                string
	from, to           *time.Time
	minTotal, maxTotal *int64
	sku                string
	recipient, address string
}

func (s search) empty() bool {
	return len(s.statuses) == 0 && s.org == "" && s.from == nil && s.to == nil && s.minTotal == nil && s.maxTotal == nil &&
		s.sku == "" && s.recipient == "" && s.address == ""
}

// key is the canonical text of the filters, which binds a cursor to them.
func (s search) key() string {
	if s.empty() {
		return ""
	}
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(p.UnixMicro(), 10)
	}
	n := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	return strings.Join([]string{strings.Join(s.statuses, ","), s.org, t(s.from), t(s.to), n(s.minTotal), n(s.maxTotal),
		s.sku, s.recipient, s.address}, "\x00")
}

// Limits of the search filters.
const (
	maxStatuses   = 20
	maxSearchText = 100
	minSearchText = 3
)

// parseSearch reads the read model's filters of GET /v1/orders: statuses
// (comma-separated), org (a node id: its subtree), createdFrom/createdTo
// (RFC 3339), minTotal/maxTotal (minor units), sku, recipient and address
// (text, 3 to 100 characters).
func (s *Server) parseSearch(qp url.Values) (search, error) {
	var out search
	for _, name := range []string{"statuses", "org", "createdFrom", "createdTo", "minTotal", "maxTotal", "sku", "recipient", "address"} {
		if len(qp[name]) > 1 {
			return out, invalidField(name, "%s is given %d times; give it once", name, len(qp[name]))
		}
	}
	if v := qp.Get("statuses"); v != "" {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if !s.svc.KnownStatus(st) {
				return out, invalidField("statuses", "status %q is no state of any order lifecycle", st)
			}
			if !slices.Contains(out.statuses, st) {
				out.statuses = append(out.statuses, st)
			}
		}
		if len(out.statuses) > maxStatuses {
			return out, invalidField("statuses", "at most %d statuses", maxStatuses)
		}
		slices.Sort(out.statuses)
	}
	if v := qp.Get("org"); v != "" {
		if len(v) > 64 || !isPathText(v) || strings.Contains(v, "/") {
			return out, invalidField("org", "org is the id of an organisation node (a-z 0-9 -)")
		}
		out.org = v
	}
	for _, tf := range []struct {
		name string
		into **time.Time
	}{{"createdFrom", &out.from}, {"createdTo", &out.to}} {
		if v := qp.Get(tf.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return out, invalidField(tf.name, "%s is an RFC 3339 time (2026-12-06T08:00:00Z)", tf.name)
			}
			at = at.UTC()
			*tf.into = &at
		}
	}
	for _, nf := range []struct {
		name string
		into **int64
	}{{"minTotal", &out.minTotal}, {"maxTotal", &out.maxTotal}} {
		if v := qp.Get(nf.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return out, invalidField(nf.name, "%s is an amount in minor units, 0 or more", nf.name)
			}
			*nf.into = &n
		}
	}
	if v := qp.Get("sku"); v != "" {
		if !skuPattern.MatchString(v) {
			return out, invalidField("sku", "sku must be 1 to 64 of A-Z a-z 0-9 . _ -")
		}
		out.sku = v
	}
	for _, tf := range []struct {
		name string
		into *string
	}{{"recipient", &out.recipient}, {"address", &out.address}} {
		if v := strings.TrimSpace(qp.Get(tf.name)); qp.Has(tf.name) {
			if n := len([]rune(v)); n < minSearchText || n > maxSearchText {
				return out, invalidField(tf.name, "%s is a text of %d to %d characters", tf.name, minSearchText, maxSearchText)
			}
			*tf.into = v
		}
	}
	return out, nil
}

func isPathText(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return false
		}
	}
	return s != ""
}

// ownList reports whether a list is the caller's own orders as a buyer:
// a principal with no back-office role, or any caller naming itself as
// buyerId. Those lists stay on the order store, which has their writes.
func ownList(p *principal, q order.Query) bool {
	if p == nil {
		return true
	}
	if q.BuyerID != "" && q.BuyerID == p.ID {
		return true
	}
	return !slices.ContainsFunc(p.Roles, func(r string) bool { return r == RoleAgent || r == RoleOperator || r == RoleAdmin })
}

// listPage answers a list: from the read model for the back office (and
// for any search only it serves), else from the order store; when the
// read model fails or misses its deadline, plain lists fall back to the
// order store, and the answer says which level answered.
func (s *Server) listPage(c echo.Context, q order.Query, sr search) (order.Page, error) {
	rs := s.readSide
	h := c.Response().Header()
	if rs == nil {
		if !sr.empty() {
			return order.Page{}, problem(CodeSearchNotConfigured, nil,
				"the filters statuses, org, createdFrom, createdTo, minTotal, maxTotal, sku, recipient and address are served by the order read model, which this server does not have")
		}
		return s.storeList(c, q)
	}
	if q.ParentID != "" || q.TopLevel {
		// The read model does not know families: a parent's sub-orders
		// (one shard, one index) and the top-level list come from the store.
		if !sr.empty() {
			return order.Page{}, invalidField("parentId", "parentId and topLevel cannot be combined with the read model's search filters")
		}
		return s.storeList(c, q)
	}
	if sr.empty() && ownList(principalOf(c), q) {
		return s.storeList(c, q)
	}
	page, err := s.readModelPage(c.Request().Context(), q, sr)
	if err == nil {
		h.Set(HeaderReadLevel, ReadLevelReadModel)
		return page, nil
	}
	var oe *order.Error
	if errors.As(err, &oe) || errors.Is(err, readmodel.ErrInvalid) {
		return order.Page{}, err
	}
	if rs.Metrics != nil {
		rs.Metrics.Fallback()
	}
	s.log.WarnContext(c.Request().Context(), "read model list failed; the order store answers", "traceId", traceID(c), "error", err)
	if !sr.empty() {
		c.Response().Header().Set(echo.HeaderRetryAfter, "5")
		return order.Page{}, problem(CodeReadModelUnavailable, nil,
			"the order read model, which serves this search, is not answering; retry shortly, or list without the search filters")
	}
	h.Set(HeaderReadLevel, ReadLevelFallback)
	return s.svc.List(c.Request().Context(), q)
}

// readModelPage is one page of the list from the read model, within its
// deadline.
func (s *Server) readModelPage(ctx context.Context, q order.Query, sr search) (order.Page, error) {
	rs := s.readSide
	timeout := rs.ListTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	attrs, err := s.svc.SearchAttrs(q.BizCode, q.Attrs)
	if err != nil {
		return order.Page{}, err
	}
	rq := readmodel.Query{Access: q.Access, BizCode: q.BizCode, BuyerID: q.BuyerID, Attrs: attrs, Limit: q.Limit + 1,
		Statuses: sr.statuses, OrgSubtree: sr.org, CreatedFrom: sr.from, CreatedTo: sr.to, TotalMin: sr.minTotal, TotalMax: sr.maxTotal,
		SKU: sr.sku, Recipient: sr.recipient, Address: sr.address}
	if q.Status != "" {
		if len(sr.statuses) > 0 && !slices.Contains(sr.statuses, q.Status) {
			return order.Page{Orders: []order.View{}}, nil // status and statuses exclude each other
		}
		rq.Statuses = []string{q.Status}
	}
	if q.Cursor != "" {
		cur, err := order.DecodeCursorWith(q.Cursor, q, sr.key())
		if err != nil {
			return order.Page{}, fmt.Errorf("cursor: %w", err) // checked by the handler before
		}
		rq.After = &cur
	}
	held, err := rs.Model.List(ctx, rq)
	if err != nil {
		return order.Page{}, err
	}
	page := order.Page{Orders: make([]order.View, 0, min(len(held), q.Limit))}
	for i, h := range held {
		if i == q.Limit {
			last := held[i-1].Order
			page.NextCursor = order.EncodeCursorWith(store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}, q, sr.key())
			break
		}
		page.Orders = append(page.Orders, s.svc.ViewOf(h.Order))
	}
	return page, nil
}

// readOrder reads an order by id for GET /v1/orders/{id}: level by level
// for the back office, from the order store for a buyer (whose own writes
// must show) and whenever the answer is the caller's own order.
func (s *Server) readOrder(c echo.Context, id string) (order.View, error) {
	rs := s.readSide
	p := principalOf(c)
	ctx := c.Request().Context()
	h := c.Response().Header()
	if rs == nil || rs.Reader == nil || ownList(p, order.Query{}) {
		return s.storeGet(c, id)
	}
	snap, level, err := rs.Reader.Get(ctx, id)
	if errors.Is(err, readmodel.ErrNotFound) {
		return order.View{}, orderNotFound(id)
	}
	if err != nil {
		return order.View{}, err
	}
	if snap.Order.BuyerID == p.ID && level != readmodel.LevelStore {
		// The caller's own order: its own writes must show.
		return s.storeGet(c, id)
	}
	h.Set(HeaderReadLevel, string(level))
	return s.svc.ViewOf(snap.Order), nil
}

// loadOrderLevels is loadOrder for GET /v1/orders/{id}, through readOrder.
func (s *Server) loadOrderLevels(c echo.Context) (order.View, *authz.Resource, error) {
	id := c.Param("id")
	if id == "" || len(id) > maxOrderID {
		return order.View{}, nil, orderNotFound(id)
	}
	v, err := s.readOrder(c, id)
	if oe := (*order.Error)(nil); errors.As(err, &oe) && oe.Code == order.CodeNotFound {
		return order.View{}, nil, orderNotFound(id)
	}
	if err != nil {
		return order.View{}, nil, err
	}
	res, err := s.orderResource(c.Request().Context(), v)
	if err != nil {
		return order.View{}, nil, err
	}
	return v, res, nil
}

// invalidateOrders drops an order this node changed from the read-by-id
// cache, after any request that may write it (POST under /v1/orders/{id}).
func (s *Server) invalidateOrders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if rs := s.readSide; rs != nil && rs.Reader != nil && c.Request().Method != http.MethodGet {
			if id := c.Param("id"); id != "" && strings.HasPrefix(c.Path(), "/v1/orders/:id") {
				rs.Reader.Invalidate(id)
			}
		}
		return err
	}
}

// readModelStatus answers GET /v1/admin/readmodel.
func (s *Server) readModelStatus(c echo.Context) error {
	rs := s.readSide
	if rs == nil || rs.Status == nil {
		return c.JSON(http.StatusOK, map[string]any{"configured": false})
	}
	st := rs.Status(c.Request().Context())
	return c.JSON(http.StatusOK, struct {
		Configured bool `json:"configured"`
		readmodel.Status
	}{true, st})
}
