package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
)

// Idempotency headers (draft-ietf-httpapi-idempotency-key-header).
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	// MaxIdempotencyKey is the longest key accepted, in bytes.
	MaxIdempotencyKey = 255
)

// Sizes of order fields, within the store's columns.
const (
	maxBizCode  = 128
	maxChannel  = 64
	maxMethod   = 64
	maxCoupon   = 64
	maxEvent    = 64
	maxDataKeys = 32
	maxDataKey  = 64
	maxDataVal  = 1024
	maxOrderID  = 64
)

// idempotencyKey reads the Idempotency-Key header of POST /v1/orders.
func idempotencyKey(h http.Header) (string, error) {
	return idempotencyKeyOf(h, "POST /v1/orders", "order", MaxIdempotencyKey)
}

// idempotencyKeyOf reads the Idempotency-Key header of the endpoint: a
// token or a quoted structured-field string, 1 to maxLen printable ASCII
// characters; what says what the key identifies, for the message.
func idempotencyKeyOf(h http.Header, endpoint, what string, maxLen int) (string, error) {
	key := strings.TrimSpace(h.Get(HeaderIdempotencyKey))
	if key == "" {
		return "", problem(CodeIdempotencyKeyMissing, nil, "%s needs an Idempotency-Key header (a unique value per %s, e.g. a UUID)", endpoint, what)
	}
	return checkIdempotencyKey(key, maxLen)
}

// checkIdempotencyKey unquotes and checks a key given in a header or a body.
func checkIdempotencyKey(key string, maxLen int) (string, error) {
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(key[1 : len(key)-1])
	}
	switch {
	case key == "":
		return "", problem(CodeIdempotencyKeyInvalid, nil, "the Idempotency-Key is empty")
	case len(key) > maxLen:
		return "", problem(CodeIdempotencyKeyInvalid, map[string]any{"maxLength": maxLen},
			"the Idempotency-Key is %d bytes long; at most %d", len(key), maxLen)
	case strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }):
		return "", problem(CodeIdempotencyKeyInvalid, nil, "the Idempotency-Key must be printable ASCII")
	}
	return key, nil
}

// skuQuantity is an item of an order or a return, for checkItems.
type skuQuantity struct {
	sku      string
	quantity int64
}

// checkItems holds the items of an order or a return (what) to the limits:
// 1 to MaxItems items, quantities 1 to MaxQuantity, well-formed SKUs.
func (s *Server) checkItems(what string, items []skuQuantity) error {
	if n := len(items); n == 0 || n > s.limits.MaxItems {
		return problem(CodeInvalidItems, map[string]any{"field": "items", "maxItems": s.limits.MaxItems},
			"%s has 1 to %d items; this one has %d", what, s.limits.MaxItems, n)
	}
	for i, it := range items {
		field := fmt.Sprintf("items[%d]", i)
		if it.quantity < 1 || it.quantity > s.limits.MaxQuantity {
			return problem(CodeInvalidQuantity, map[string]any{"field": field + ".quantity", "maxQuantity": s.limits.MaxQuantity},
				"%s.quantity is %d; it must be 1 to %d", field, it.quantity, s.limits.MaxQuantity)
		}
		if !skuPattern.MatchString(it.sku) {
			return invalidField(field+".sku", "%s.sku must be 1 to 64 of A-Z a-z 0-9 . _ -", field)
		}
	}
	return nil
}

// checkPlace holds an order request to the limits before anything runs.
func (s *Server) checkPlace(req order.PlaceRequest) error {
	skus := make([]skuQuantity, len(req.Items))
	for i, it := range req.Items {
		skus[i] = skuQuantity{it.SKU, it.Quantity}
	}
	if err := s.checkItems("an order", skus); err != nil {
		return err
	}
	switch {
	case len(req.BizCode) > maxBizCode:
		return invalidField("bizCode", "bizCode is longer than %d bytes", maxBizCode)
	case len(req.Channel) > maxChannel:
		return invalidField("channel", "channel is longer than %d bytes", maxChannel)
	case len(req.PaymentMethod) > maxMethod:
		return invalidField("paymentMethod", "paymentMethod is longer than %d bytes", maxMethod)
	case len(req.Coupons) > s.limits.MaxItems:
		return invalidField("coupons", "at most %d coupons", s.limits.MaxItems)
	}
	for i, cp := range req.Coupons {
		if cp == "" || len(cp) > maxCoupon {
			return invalidField(fmt.Sprintf("coupons[%d]", i), "a coupon code is 1 to %d bytes", maxCoupon)
		}
	}
	return checkAddress(req.ShippingAddress)
}

// unpaidStatuses are the states of the built-in graphs in which an order
// holds stock it has not paid for.
var unpaidStatuses = []string{lifecycle.Created, lifecycle.PendingPayment}

// checkUnpaid caps what one buyer holds unpaid: orders never paid keep
// their stock reserved until the payment timeout, so without a cap one
// buyer could keep a SKU out of everyone's reach. Concurrent orders of one
// buyer may pass the check together; the per-principal rate limit bounds
// by how much.
func (s *Server) checkUnpaid(c echo.Context, p *principal, req order.PlaceRequest) error {
	maxOrders, maxQty := s.limits.MaxUnpaidOrders, s.limits.MaxUnpaidQuantity
	if maxOrders < 0 && maxQty < 0 {
		return nil
	}
	var skus []string
	for _, it := range req.Items {
		skus = append(skus, it.SKU)
	}
	held, err := s.store.UnpaidOf(c.Request().Context(), p.ID, unpaidStatuses, skus)
	if err != nil {
		return err
	}
	if maxOrders >= 0 && held.Orders >= maxOrders {
		return problem(CodeUnpaidLimit, map[string]any{"limit": maxOrders},
			"you hold %d unpaid orders, the most allowed: pay or cancel one first", held.Orders)
	}
	if maxQty < 0 {
		return nil
	}
	for _, it := range req.Items {
		if held.Quantity[it.SKU]+it.Quantity > maxQty {
			return problem(CodeUnpaidLimit, map[string]any{"sku": it.SKU, "limit": maxQty},
				"your unpaid orders would hold %d of %s, more than %d: pay or cancel some first", held.Quantity[it.SKU]+it.Quantity, it.SKU, maxQty)
		}
	}
	return nil
}

// mayChooseIdentity refuses an explicit bizCode the caller may not choose
// (order.choose_identity) and the resolution rules would not give its
// order anyway: otherwise any buyer could name retail.vip and get its
// promotions. An unknown code is refused alike, so that the answer does not
// tell which identities exist.
func (s *Server) mayChooseIdentity(c echo.Context, p *principal, req order.PlaceRequest) error {
	if req.BizCode == "" {
		return nil
	}
	d, err := s.decide(c, authz.Input{Principal: p.subject(), Action: ActionOrderChooseIdentity,
		Resource: &authz.Resource{Type: resourceIdentity, ID: req.BizCode, BizCode: req.BizCode}})
	if err == nil && d.Allow {
		return nil
	}
	refused := problem(CodeIdentityNotAllowed, map[string]any{"field": "bizCode"},
		"you may not choose the business identity of your order; leave bizCode out and the platform resolves it")
	if s.kernel == nil {
		return refused
	}
	names := make([]string, len(req.Items))
	for i, it := range req.Items {
		names[i] = it.SKU
	}
	skus, err := s.store.GetSKUs(c.Request().Context(), names)
	if err != nil {
		return fmt.Errorf("place: categories for the identity check: %w", err)
	}
	categories := make([]string, len(req.Items))
	for i, it := range req.Items {
		categories[i] = skus[it.SKU].Category
	}
	code, err := s.kernel.Plans().Resolve(identity.Request{Channel: req.Channel, Categories: categories, Buyer: buyerAttrs(p)})
	if err != nil || string(code) != req.BizCode {
		return refused
	}
	return nil
}

// placeOrder places an order under the caller's Idempotency-Key. The key is
// claimed first, with a lease renewed while the order is placed; the
// order's own transaction stores the 201 answer, which later requests with
// the same key and body replay. Any failure releases the key: nothing was
// written, and a retry may run again.
func (s *Server) placeOrder(c echo.Context) error {
	p := principalOf(c)
	key, err := idempotencyKey(c.Request().Header)
	if err != nil {
		return err
	}
	raw, err := readBody(c, s.limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req order.PlaceRequest
	if err := decodeStrict(raw, &req, decodeOptions{rejectPrices: true, rangeCode: CodeInvalidQuantity}); err != nil {
		return err
	}
	setBizCode(c, req.BizCode)
	if err := s.checkPlace(req); err != nil {
		return err
	}
	if err := s.mayChooseIdentity(c, p, req); err != nil {
		return err
	}
	if err := s.checkUnpaid(c, p, req); err != nil {
		return err
	}

	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:])
	ctx := c.Request().Context()
	rec, claimed, err := s.store.ClaimIdempotency(ctx, p.ID, key, hash, s.lease)
	if err != nil {
		return err
	}
	if !claimed {
		return s.replay(c, rec, hash)
	}
	stopRenewing := s.renewClaim(ctx, rec)
	placed := false
	defer func() {
		stopRenewing()
		if !placed {
			// Also after a panic: the key must not stay "running" until its lease runs out.
			s.releaseClaim(ctx, traceID(c), rec)
		}
	}()
	buyer := order.Buyer{ID: p.ID, Attrs: buyerAttrs(p), OwnerOrg: p.Org}
	view, err := s.svc.Place(ctx, buyer, req, &order.Idempotency{Principal: p.ID, Key: key})
	if err != nil {
		return err
	}
	placed = true
	setBizCode(c, view.BizCode)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+view.ID)
	// The idempotency record holds view.JSON(); a replay narrows it the same way.
	return c.JSONBlob(http.StatusCreated, []byte(s.forCaller(c, view, nil).JSON()))
}

// renewClaim renews the lease of a claimed key every third of the lease
// until the returned stop is called (when the request ends), so that a
// request that runs long keeps its key while one whose process died loses
// it to a retry within a lease. Requests shorter than a third of the lease
// never write a renewal.
func (s *Server) renewClaim(ctx context.Context, rec store.IdempotencyRecord) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		every := s.lease / 3
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
			err := s.store.RenewIdempotency(rctx, rec.Principal, rec.Key, rec.Owner, s.lease)
			cancel()
			if errors.Is(err, store.ErrNotFound) {
				// Taken over after renewals failed for a whole lease: the
				// order's transaction can no longer record its answer.
				s.log.WarnContext(ctx, "idempotency claim lost", "principal", rec.Principal, "key", rec.Key)
				return
			}
			if err != nil {
				s.log.WarnContext(ctx, "renew idempotency claim", "principal", rec.Principal, "key", rec.Key, "error", err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// releaseAttempts and releaseBackoff bound how long a failed request waits
// to release its key: a few tries with a widening pause. If every one
// fails, nothing more is done: the claim's lease runs out and the next
// retry takes the key over.
const (
	releaseAttempts = 3
	releaseBackoff  = 50 * time.Millisecond
)

// releaseClaim deletes the claim of a request that failed, so that a retry
// may run at once; see releaseAttempts.
func (s *Server) releaseClaim(ctx context.Context, trace string, rec store.IdempotencyRecord) {
	pause := releaseBackoff
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := s.release(rctx, rec.Principal, rec.Key, rec.Owner)
		cancel()
		if err == nil {
			return
		}
		if attempt == releaseAttempts {
			s.log.ErrorContext(ctx, "release idempotency key; a retry takes it over when its lease runs out", "traceId", trace,
				"principal", rec.Principal, "lease", s.lease.String(), "error", err)
			return
		}
		time.Sleep(pause)
		pause *= 4
	}
}

// replay answers a request whose key another request holds or answered.
func (s *Server) replay(c echo.Context, rec store.IdempotencyRecord, hash string) error {
	switch {
	case rec.RequestHash != hash:
		return problem(CodeIdempotencyKeyReused, nil,
			"this Idempotency-Key was used for a different request; use a new key for a new order")
	case rec.State != store.IdempotencyDone:
		c.Response().Header().Set(echo.HeaderRetryAfter, "1")
		return problem(CodeIdempotencyInProgress, nil, "a request with this Idempotency-Key is still running; retry shortly")
	}
	var head struct {
		ID      string `json:"id"`
		BizCode string `json:"bizCode"`
	}
	if json.Unmarshal([]byte(rec.Body), &head) == nil && head.ID != "" {
		setBizCode(c, head.BizCode)
		c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+head.ID)
	}
	c.Response().Header().Set(HeaderReplayed, "true")
	return c.JSONBlob(rec.StatusCode, []byte(s.forCallerJSON(c, rec.Body)))
}

func orderNotFound(id string) *Problem {
	return problem(order.CodeNotFound, nil, "order %s not found", id)
}

func (s *Server) getOrder(c echo.Context) error {
	v, res, err := s.loadOrderLevels(c) // level by level for the back office (readside.go)
	if err != nil {
		return err
	}
	if err := s.authorizeOrder(c, v, res, ActionOrderRead, ""); err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etag(v.Version))
	return c.JSONBlob(http.StatusOK, []byte(s.forCaller(c, v, res).JSON()))
}

// pageLimit is the ?limit= of a list: the default page size when absent,
// 400 invalid_limit unless an integer from 1 to the largest page.
func (s *Server) pageLimit(qp url.Values) (int, error) {
	if !qp.Has("limit") {
		return s.limits.DefaultPageSize, nil
	}
	n, err := strconv.Atoi(qp.Get("limit"))
	if err != nil || n <= 0 || n > s.limits.MaxPageSize {
		return 0, problem(CodeInvalidLimit, map[string]any{"maxLimit": s.limits.MaxPageSize},
			"limit must be an integer from 1 to %d; got %q", s.limits.MaxPageSize, qp.Get("limit"))
	}
	return n, nil
}

// listOrders pages through orders by (createdAt, id). The caller sees the
// orders the policy makes visible to it: the filter comes from the policy's
// partial evaluation and is part of the query.
func (s *Server) listOrders(c echo.Context) error {
	qp := c.QueryParams()
	q := order.Query{Status: qp.Get("status"), BizCode: qp.Get("bizCode"), BuyerID: qp.Get("buyerId"), Cursor: qp.Get("cursor")}
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	q.Limit = limit
	if q.Attrs, err = attrFilters(qp); err != nil {
		return err
	}
	if err := familyFilters(qp, &q); err != nil {
		return err
	}
	if q.Status != "" && !s.svc.KnownStatus(q.Status) {
		return invalidField("status", "status %q is no state of any order lifecycle", q.Status)
	}
	sr, err := s.parseSearch(qp)
	if err != nil {
		return err
	}
	if qp.Has("cursor") {
		if _, err := order.DecodeCursorWith(q.Cursor, q, sr.key()); errors.Is(err, order.ErrCursorFilter) {
			return problem(CodeInvalidCursor, nil, "the cursor belongs to a list with another filter (status, bizCode, buyerId); "+
				"start again without it or keep the filter it was given with")
		} else if err != nil || q.Cursor == "" {
			return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
		}
	}
	acc, err := s.listAccess(c, ActionOrderList)
	if err != nil {
		return err
	}
	q.Access = acc
	setBizCode(c, q.BizCode)
	page, err := s.listPage(c, q, sr) // the read model or the order store (readside.go)
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, readmodel.ErrInvalid) {
		// The policy's filter names something the store cannot express
		// (a visible rule on a field orders do not have): deny.
		s.log.ErrorContext(c.Request().Context(), "policy filter not expressible in SQL: denied", "traceId", traceID(c),
			"principal", principalOf(c).ID, "error", err)
		return problem(CodeForbidden, map[string]any{"action": ActionOrderList}, policyDeniedDetail)
	}
	if err != nil {
		return err
	}
	// One owner path lookup per owner on the page, not one per order.
	owners := map[string]*authz.Resource{}
	for i, v := range page.Orders {
		res, ok := owners[v.OwnerOrg]
		if !ok {
			res, _ = s.orderResource(c.Request().Context(), v) // nil on error: forCaller looks again
			owners[v.OwnerOrg] = res
		}
		var r *authz.Resource
		if res != nil {
			rv := *res
			rv.ID, rv.BuyerID, rv.BizCode = v.ID, v.BuyerID, v.BizCode
			r = &rv
		}
		page.Orders[i] = s.forCaller(c, v, r)
	}
	return c.JSON(http.StatusOK, page)
}

// EventRequest is the body of POST /v1/orders/{id}/events.
type EventRequest struct {
	Event string            `json:"event"`
	Data  map[string]string `json:"data,omitempty"`
}

func (r EventRequest) check() error {
	if r.Event == "" || len(r.Event) > maxEvent {
		return invalidField("event", "event is 1 to %d bytes", maxEvent)
	}
	if len(r.Data) > maxDataKeys {
		return invalidField("data", "data has at most %d entries", maxDataKeys)
	}
	for k, v := range r.Data {
		if k == "" || len(k) > maxDataKey || len(v) > maxDataVal {
			return invalidField("data."+k, "data keys are 1 to %d bytes, values at most %d", maxDataKey, maxDataVal)
		}
	}
	return nil
}

// fireEvent fires a lifecycle event on an order, with the caller as actor.
// The pay event of an order paid by card or agent credit is refused for
// every role (payment_required): firing it directly would move the order
// without taking the money.
func (s *Server) fireEvent(c echo.Context) error {
	var req EventRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ifVersion, err := orderIfMatch(c)
	if err != nil {
		return err
	}
	v, res, err := s.loadOrder(c)
	if err != nil {
		return err
	}
	if req.Event == lifecycle.EventPay && paidThroughAPI(v.PaymentMethod) {
		// Whoever may see the order learns that this event is never fired
		// directly on orders paid through the API, before the policy
		// decides whether it may fire it.
		if err := s.authorizeOrder(c, v, res, ActionOrderRead, ""); err != nil {
			return err
		}
		return payThroughPayments(v)
	}
	if err := s.authorizeOrder(c, v, res, ActionOrderEvent, req.Event); err != nil {
		return err
	}
	if err := supplierEvent(req.Event); err != nil {
		return err
	}
	p := principalOf(c)
	updated, err := s.svc.Fire(c.Request().Context(), v.ID, order.Event{Name: req.Event, Actor: p.ID, Data: req.Data,
		IfVersion: ifVersion})
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etag(updated.Version))
	return c.JSONBlob(http.StatusOK, []byte(s.forCaller(c, updated, res).JSON()))
}

// orderIfMatch reads the If-Match of an event: the order's ETag (its
// version) the caller read, 0 when absent or "*" (fire on whatever version).
func orderIfMatch(c echo.Context) (int64, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || n <= 0 {
		return 0, problem(CodeInvalidRequest, map[string]any{"header": "If-Match"},
			"If-Match must be the ETag of the order you read, such as \"3\"; got %q", h)
	}
	return n, nil
}

// payThroughPayments refuses the pay event of an order paid by card or
// agent credit (409 payment_required).
func payThroughPayments(v order.View) error {
	return problem(CodePaymentRequired, map[string]any{"event": lifecycle.EventPay, "paymentMethod": v.PaymentMethod,
		"payments": paymentsPath(v.ID)},
		"order %s is paid by %s: pay it with POST %s, which takes the money before the order moves", v.ID, v.PaymentMethod,
		paymentsPath(v.ID))
}

// TraceCall is one extension call that shaped an order.
type TraceCall struct {
	Seq            int    `json:"seq"`
	Point          string `json:"point"`
	Impl           string `json:"impl"`
	Layer          string `json:"layer"`
	Source         string `json:"source"`
	Version        string `json:"version"`
	Origin         string `json:"origin"`
	DurationMicros int64  `json:"durationMicros"`
	Outcome        string `json:"outcome"`
	Error          string `json:"error,omitempty"`
	// TraceID is the OpenTelemetry trace of the request that made the
	// call, when it was traced.
	TraceID string `json:"traceId,omitempty"`
}

// TraceView answers GET /v1/orders/{id}/trace.
type TraceView struct {
	OrderID string      `json:"orderId"`
	Calls   []TraceCall `json:"calls"`
}

func (s *Server) getTrace(c echo.Context) error {
	v, err := s.orderFor(c, ActionOrderTrace, "")
	if err != nil {
		return err
	}
	records, err := s.svc.Trace(c.Request().Context(), v.ID)
	if err != nil {
		return err
	}
	out := TraceView{OrderID: v.ID, Calls: make([]TraceCall, 0, len(records))}
	staff := isStaff(principalOf(c))
	for _, r := range records {
		call := TraceCall{Seq: r.Seq, Point: r.Point, Impl: r.Impl, Layer: r.Layer, Source: r.Source,
			Version: r.ImplVersion, Origin: r.Origin, DurationMicros: r.DurationNanos / 1000, Outcome: r.Outcome, Error: r.Error, TraceID: r.TraceID}
		if !staff {
			// Which implementations (a business team's bizpack, its
			// version) shaped an order, and their errors, are the platform's.
			call.Impl, call.Source, call.Version, call.Origin, call.Error = "", "", "", "", ""
		}
		out.Calls = append(out.Calls, call)
	}
	return c.JSON(http.StatusOK, out)
}

// buyerAttrs are the attributes identity rules and extension points see of
// the caller: its own, and "role" (its first role) unless it sets one, so
// that a rule such as `buyer: {role: agent}` resolves agents' orders.
func buyerAttrs(p *principal) map[string]string {
	if _, ok := p.Attrs["role"]; ok || len(p.Roles) == 0 {
		return p.Attrs
	}
	out := make(map[string]string, len(p.Attrs)+1)
	for k, v := range p.Attrs {
		out[k] = v
	}
	out["role"] = p.Roles[0]
	return out
}
