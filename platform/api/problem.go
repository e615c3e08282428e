package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

// ProblemTypeBase prefixes a problem's code to make its "type" URI.
const ProblemTypeBase = "https://tmf.dev/problems/"

// ProblemContentType is the media type of every error answer (RFC 9457).
const ProblemContentType = "application/problem+json"

// Codes of the API's own problems, and of the domains' typed refusals
// (mapped in domainProblem). The order service's and the kernel's codes
// (order.Code*, kernel.Code*) pass through unchanged.
const (
	CodeInternal = "internal"
	CodeNotReady = "not_ready"
	// CodeUnavailable: the database cannot serve now (store.IsUnavailable);
	// the answer carries Retry-After.
	CodeUnavailable           = "unavailable"
	CodeUnauthenticated       = "unauthenticated"
	CodeForbidden             = "forbidden"
	CodeForbiddenEvent        = "forbidden_event"
	CodeNotFound              = "not_found"
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeUnsupportedMediaType  = "unsupported_media_type"
	CodeMalformedJSON         = "malformed_json"
	CodeTrailingData          = "trailing_data"
	CodeUnknownField          = "unknown_field"
	CodeClientPrice           = "client_price_rejected"
	CodeInvalidType           = "invalid_type"
	CodeBodyTooLarge          = "body_too_large"
	CodeInvalidItems          = "invalid_items"
	CodeInvalidQuantity       = "invalid_quantity"
	CodeInvalidRequest        = "invalid_request"
	CodeInvalidLimit          = "invalid_limit"
	CodeInvalidCursor         = "invalid_cursor"
	CodeIdempotencyKeyMissing = "idempotency_key_missing"
	CodeIdempotencyKeyInvalid = "idempotency_key_invalid"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeIdempotencyInProgress = "idempotency_in_progress"
	CodePrincipalExists       = "principal_exists"
	CodeConflict              = "conflict"
	CodeIdentityNotFound      = "identity_not_found"
	CodeInvalidIdentity       = "invalid_identity"
	CodeConfigStale           = "config_stale"
	CodeBizpackUploadInvalid  = "bizpack_upload_invalid"
	// CodePaymentRequired: the pay event of an order paid by card or agent
	// credit is fired by POST /v1/orders/{id}/payments, never directly.
	CodePaymentRequired = "payment_required"
	// Codes of the domains' admin refusals.
	CodeStockConflict         = "stock_conflict"
	CodePromotionInvalid      = "promotion_invalid"
	CodePromotionNotFound     = "promotion_not_found"
	CodeCouponNotFound        = "coupon_not_found"
	CodeCouponExists          = "coupon_exists"
	CodeCreditAccountNotFound = "credit_account_not_found"
	CodeCreditLimitTooLow     = "credit_limit_too_low"
	CodeCurrencyMismatch      = "currency_mismatch"
	// Codes of the bizpack admin endpoints (mapped in bizpackProblem).
	CodeBizpackNotFound   = "bizpack_not_found"
	CodeBizpackRefused    = "bizpack_refused"
	CodeBizpackNoPrevious = "bizpack_no_previous"
	// Codes of the organisation tree, principals and policy endpoints.
	CodeOrgNotFound       = "org_not_found"
	CodeOrgExists         = "org_exists"
	CodeOrgCycle          = "org_cycle"
	CodeOrgInUse          = "org_in_use"
	CodePrincipalNotFound = "principal_not_found"
	CodePolicyInvalid     = "policy_invalid"
	// An order names an identity its caller may not choose.
	CodeIdentityNotAllowed = "identity_not_allowed"
	// A string of a body is too long or holds control characters.
	CodeInvalidText = "invalid_text"
	// Too many requests from one principal or address; with Retry-After.
	CodeRateLimited = "rate_limited"
	// A buyer holds too many unpaid orders, or too much of a SKU in them.
	CodeUnpaidLimit = "unpaid_limit"
	// The change would leave no enabled admin.
	CodeLastAdmin = "last_admin"
	// A write of an existing resource without If-Match.
	CodePreconditionRequired = "precondition_required"
)

type codeInfo struct {
	status int
	title  string
}

// problemCodes is THE table from stable codes to HTTP statuses: the API's
// own codes, the order service's, the kernel's and the store's. A code that
// is not here answers 500 internal. The one exception is sku_not_found,
// which is 422 when an order names an unknown SKU but 404 when the SKU is
// the resource of the URL (GET /v1/skus/{sku}, /v1/stock/{sku}); those
// handlers set Problem.Status.
var problemCodes = map[string]codeInfo{
	// The API's own.
	CodeInternal:              {http.StatusInternalServerError, "Internal error"},
	CodeNotReady:              {http.StatusServiceUnavailable, "Not ready"},
	CodeUnavailable:           {http.StatusServiceUnavailable, "Database unavailable"},
	CodeUnauthenticated:       {http.StatusUnauthorized, "Unauthenticated"},
	CodeForbidden:             {http.StatusForbidden, "Forbidden"},
	CodeForbiddenEvent:        {http.StatusForbidden, "Event not permitted"},
	CodeNotFound:              {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:      {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeUnsupportedMediaType:  {http.StatusUnsupportedMediaType, "Unsupported media type"},
	CodeMalformedJSON:         {http.StatusBadRequest, "Malformed JSON"},
	CodeTrailingData:          {http.StatusBadRequest, "Trailing data after the JSON body"},
	CodeUnknownField:          {http.StatusBadRequest, "Unknown field"},
	CodeClientPrice:           {http.StatusBadRequest, "Prices come from the server"},
	CodeInvalidType:           {http.StatusBadRequest, "Invalid type"},
	CodeBodyTooLarge:          {http.StatusRequestEntityTooLarge, "Request body too large"},
	CodeInvalidItems:          {http.StatusBadRequest, "Invalid items"},
	CodeInvalidQuantity:       {http.StatusBadRequest, "Invalid quantity"},
	CodeInvalidRequest:        {http.StatusBadRequest, "Invalid request"},
	CodeInvalidLimit:          {http.StatusBadRequest, "Invalid limit"},
	CodeInvalidCursor:         {http.StatusBadRequest, "Invalid cursor"},
	CodeIdempotencyKeyMissing: {http.StatusBadRequest, "Idempotency-Key header required"},
	CodeIdempotencyKeyInvalid: {http.StatusBadRequest, "Invalid Idempotency-Key"},
	CodeIdempotencyKeyReused:  {http.StatusUnprocessableEntity, "Idempotency-Key reused with another request"},
	CodeIdempotencyInProgress: {http.StatusConflict, "Request with this Idempotency-Key in progress"},
	CodePrincipalExists:       {http.StatusConflict, "Principal exists"},
	CodePrincipalNotFound:     {http.StatusNotFound, "Principal not found"},
	CodeOrgNotFound:           {http.StatusNotFound, "Organisation node not found"},
	CodeOrgExists:             {http.StatusConflict, "Organisation node exists"},
	CodeOrgCycle:              {http.StatusConflict, "Move would make a cycle"},
	CodeOrgInUse:              {http.StatusConflict, "Organisation node in use"},
	CodePolicyInvalid:         {http.StatusUnprocessableEntity, "Policy did not load"},
	CodeConflict:              {http.StatusConflict, "Conflict"},
	CodeIdentityNotFound:      {http.StatusNotFound, "Business identity not found"},
	CodeInvalidIdentity:       {http.StatusBadRequest, "Invalid business identity"},
	CodeConfigStale:           {http.StatusPreconditionFailed, "Configuration changed meanwhile"},
	CodeBizpackUploadInvalid:  {http.StatusBadRequest, "Bizpack upload invalid"},
	CodePaymentRequired:       {http.StatusConflict, "Pay through the payments endpoint"},
	CodeStockConflict:         {http.StatusConflict, "Stock setting conflict"},
	CodePromotionInvalid:      {http.StatusUnprocessableEntity, "Promotion invalid"},
	CodePromotionNotFound:     {http.StatusNotFound, "Promotion not found"},
	CodeCouponNotFound:        {http.StatusNotFound, "Coupon not found"},
	CodeCouponExists:          {http.StatusConflict, "Coupon exists"},
	CodeCreditAccountNotFound: {http.StatusNotFound, "Credit account not found"},
	CodeCreditLimitTooLow:     {http.StatusConflict, "Credit limit below what is in use"},
	CodeCurrencyMismatch:      {http.StatusUnprocessableEntity, "Currency mismatch"},
	CodeBizpackNotFound:       {http.StatusNotFound, "Bizpack not found"},
	CodeBizpackRefused:        {http.StatusUnprocessableEntity, "Bizpack refused"},
	CodeBizpackNoPrevious:     {http.StatusConflict, "No previous bizpack version"},
	CodeIdentityNotAllowed:    {http.StatusForbidden, "Business identity not allowed"},
	CodeInvalidText:           {http.StatusBadRequest, "Invalid text"},
	CodeRateLimited:           {http.StatusTooManyRequests, "Too many requests"},
	CodeUnpaidLimit:           {http.StatusConflict, "Too much unpaid"},
	CodeLastAdmin:             {http.StatusConflict, "Last admin"},
	CodePreconditionRequired:  {http.StatusPreconditionRequired, "If-Match required"},

	// The order service's.
	order.CodeInvalid:            {http.StatusBadRequest, "Invalid order"},
	order.CodeSKUNotFound:        {http.StatusUnprocessableEntity, "SKU not found"},
	order.CodeMixedCurrency:      {http.StatusUnprocessableEntity, "Mixed currencies"},
	order.CodeOutOfStock:         {http.StatusConflict, "Out of stock"},
	order.CodeRejected:           {http.StatusUnprocessableEntity, "Order rejected"},
	order.CodeAddressRequired:    {http.StatusUnprocessableEntity, "Shipping address required"},
	order.CodePaymentUnavailable: {http.StatusUnprocessableEntity, "Payment method unavailable"},
	order.CodeIdentity:           {http.StatusUnprocessableEntity, "Business identity unresolved"},
	order.CodePricing:            {http.StatusUnprocessableEntity, "Pricing invalid"},
	order.CodeNotFound:           {http.StatusNotFound, "Order not found"},
	order.CodeEventNotAllowed:    {http.StatusConflict, "Event not allowed"},
	order.CodeVetoed:             {http.StatusConflict, "Transition vetoed"},
	order.CodeVersionConflict:    {http.StatusConflict, "Version conflict"},
	order.CodeOrderStale:         {http.StatusPreconditionFailed, "Order changed meanwhile"},
	order.CodeTooManyCoupons:     {http.StatusUnprocessableEntity, "Too many coupons"},
	order.CodeCouponUnavailable:  {http.StatusConflict, "Coupon unavailable"},
	order.CodeBudgetExhausted:    {http.StatusConflict, "Promotion budget exhausted"},
	order.CodeInsufficientCredit: {http.StatusConflict, "Insufficient credit"},
	order.CodeRegionNotServed:    {http.StatusUnprocessableEntity, "Region not served"},
	order.CodePaymentDeclined:    {http.StatusPaymentRequired, "Payment declined"},
	order.CodePaymentInvalid:     {http.StatusUnprocessableEntity, "Payment invalid"},
	order.CodePaymentInProgress:  {http.StatusConflict, "Payment in progress"},
	order.CodePaymentProcessor:   {http.StatusServiceUnavailable, "Payment processor unavailable"},
	order.CodePaymentMethod:      {http.StatusUnprocessableEntity, "Payment method not paid through the API"},
	order.CodeReturnInvalid:      {http.StatusUnprocessableEntity, "Return invalid"},
	order.CodePaymentNotFound:    {http.StatusNotFound, "Payment not found"},
	order.CodeRefundNotRetryable: {http.StatusConflict, "Refund not retryable"},
	order.CodeReturnState:        {http.StatusConflict, "Return state does not allow this step"},
	order.CodeReturnNotFound:     {http.StatusNotFound, "Return not found"},
	order.CodeReturnWindowClosed: {http.StatusUnprocessableEntity, "Return window closed"},
	// Order attributes and purchase limits.
	order.CodeAttributeInvalid:       {http.StatusBadRequest, "Attribute invalid"},
	order.CodeAttributeUnknown:       {http.StatusBadRequest, "Attribute unknown"},
	order.CodeAttributeNotSearchable: {http.StatusBadRequest, "Attribute not searchable"},
	order.CodePurchaseLimit:          {http.StatusConflict, "Purchase limit exceeded"},

	// The kernel's.
	kernel.CodeExtensionFailed:  {http.StatusBadGateway, "Extension failed"},
	kernel.CodeExtensionTimeout: {http.StatusGatewayTimeout, "Extension timed out"},
	kernel.CodeNoAnswer:         {http.StatusBadGateway, "No extension answered"},
	kernel.CodeIdentityUnknown:  {http.StatusUnprocessableEntity, "Business identity unknown"},
	kernel.CodeIdentityDisabled: {http.StatusUnprocessableEntity, "Business identity disabled"},
	kernel.CodeConfigInvalid:    {http.StatusUnprocessableEntity, "Configuration invalid"},

	// Reconciliation (reconciliation.go).
	CodeReconcileBusy:     {http.StatusConflict, "Reconciliation in progress"},
	CodeReconcileDisabled: {http.StatusServiceUnavailable, "Reconciliation disabled"},
	CodeRunNotFound:       {http.StatusNotFound, "Reconciliation run not found"},
	CodeMismatchNotFound:  {http.StatusNotFound, "Mismatch not found"},
	CodeMismatchResolved:  {http.StatusConflict, "Mismatch already resolved"},

	// Supplier fulfilment (fulfilment.go).
	CodeFulfilmentDisabled:      {http.StatusServiceUnavailable, "Fulfilment disabled"},
	CodeSignatureInvalid:        {http.StatusUnauthorized, "Signature invalid"},
	CodeFulfilmentNotFound:      {http.StatusNotFound, "Fulfilment not found"},
	CodeFulfilmentNotDispatched: {http.StatusConflict, "Fulfilment not dispatched yet"},
	CodeFulfilmentConflict:      {http.StatusConflict, "Fulfilment answer conflicts"},
	CodeFulfilmentBySupplier:    {http.StatusConflict, "Fired by the supplier"},
	CodeNotLate:                 {http.StatusConflict, "No late success"},
}

// Codes lists every problem code the API can answer, sorted: the enum of
// the Problem schema in docs/openapi.yaml.
func Codes() []string { return slices.Sorted(maps.Keys(problemCodes)) }

// StatusOf is the HTTP status of a problem code; 500 for unknown codes.
func StatusOf(code string) int {
	if info, ok := problemCodes[code]; ok {
		return info.status
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem detail on its way to the client. Handlers
// return it as an error; the error handler writes it.
type Problem struct {
	Code string
	// Status overrides the table; zero takes it from the table.
	Status int
	Detail string
	// Fields become extension members of the answer.
	Fields map[string]any
	// Err is the cause: logged, never shown.
	Err error
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return p.Code + ": " + p.Detail + ": " + p.Err.Error()
	}
	return p.Code + ": " + p.Detail
}

func (p *Problem) Unwrap() error { return p.Err }

func (p *Problem) status() int {
	if p.Status != 0 {
		return p.Status
	}
	return StatusOf(p.Code)
}

func problem(code string, fields map[string]any, format string, args ...any) *Problem {
	return &Problem{Code: code, Detail: fmt.Sprintf(format, args...), Fields: fields}
}

// reserved are the members a problem's extension fields may not replace;
// a field of that name is renamed (the order service's "status" of
// event_not_allowed, the order's state, becomes "orderStatus").
var reserved = map[string]string{
	"type": "errorType", "title": "errorTitle", "status": "orderStatus", "detail": "errorDetail",
	"code": "reasonCode", "traceId": "errorTraceId",
}

// coded is an error with a stable code, like the kernel's errors.
type coded interface {
	error
	Code() string
}

// problemOf turns any error into the problem to answer. Errors it does not
// know become 500 internal, with the cause kept for the log only.
func problemOf(err error) *Problem {
	var p *Problem
	var he *echo.HTTPError
	var oe *order.Error
	var noRate *delivery.NoRateError
	var ee *kernel.ExtensionError
	var c coded
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &he):
		return echoProblem(he)
	case errors.As(err, &oe):
		if _, ok := problemCodes[oe.Code]; !ok {
			break
		}
		return &Problem{Code: oe.Code, Detail: oe.Message, Fields: oe.Fields, Err: oe.Err}
	case errors.As(err, &noRate):
		// A freight template's refusal reaches the API inside the
		// ExtensionError of delivery.freight: it is the buyer's address, not
		// a failing extension.
		return &Problem{Code: order.CodeRegionNotServed, Detail: fmt.Sprintf("this business does not ship to region %q", noRate.Region),
			Fields: map[string]any{"region": noRate.Region}, Err: err}
	case errors.As(err, &ee):
		// The cause is the implementation's own error text: not shown.
		return &Problem{Code: ee.Code(), Detail: fmt.Sprintf("extension point %s: %s implementation %s: %s",
			ee.Point, ee.Layer, ee.Impl, ee.Outcome), Fields: map[string]any{"point": ee.Point, "impl": ee.Impl}, Err: err}
	}
	if dp := domainProblem(err); dp != nil {
		return dp
	}
	// After the typed refusals, whose causes may be deadlines of their own
	// (an extension's), before the catch-all: a database that cannot serve
	// is not a server fault, and a retry later may succeed.
	if store.IsUnavailable(err) {
		return &Problem{Code: CodeUnavailable, Detail: "the database cannot take this request now; retry after the Retry-After delay", Err: err}
	}
	switch {
	case errors.As(err, &c):
		if _, ok := problemCodes[c.Code()]; ok {
			return &Problem{Code: c.Code(), Detail: c.Error(), Err: err}
		}
	case errors.Is(err, store.ErrVersionConflict), store.IsRetryable(err):
		// A deadlock that outlasted the store's retries is contention, not
		// a server fault: the client may try again.
		return &Problem{Code: order.CodeVersionConflict, Detail: "the resource changed concurrently; try again", Err: err}
	case errors.Is(err, store.ErrDuplicate):
		return &Problem{Code: CodeConflict, Detail: "the resource exists already", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Problem{Code: CodeNotFound, Detail: "not found", Err: err}
	}
	return &Problem{Code: CodeInternal, Detail: "the server failed to answer this request; it was logged", Err: err}
}

// domainProblem maps the typed refusals of the domains' operator functions
// (stock settings, promotions, coupons, budgets, credit lines) to their
// problems; nil for any other error. The domains' messages name only what
// the request named, so they are shown as the detail.
func domainProblem(err error) *Problem {
	var (
		stockConflict *stock.ConflictError
		outOfStock    *stock.OutOfStockError
		invalidPromo  *promotion.InvalidPromotionError
		promoVersion  *promotion.VersionConflictError
		promoMissing  *promotion.PromotionNotFoundError
		couponExists  *promotion.CouponExistsError
		coupon        *promotion.CouponError
		promoCurrency *promotion.CurrencyMismatchError
		noAccount     *payment.CreditAccountNotFoundError
		limitTooLow   *payment.CreditLimitError
		payCurrency   *payment.CurrencyMismatchError
		payInvalid    *payment.InvalidRequestError
	)
	switch {
	case errors.As(err, &stockConflict):
		return &Problem{Code: CodeStockConflict, Detail: stockConflict.Error(), Fields: map[string]any{"sku": stockConflict.SKU,
			"location": stockConflict.Location, "channel": stockConflict.Channel, "mode": stockConflict.Mode}, Err: err}
	case errors.As(err, &outOfStock):
		return &Problem{Code: order.CodeOutOfStock, Detail: fmt.Sprintf("SKU %s: not enough stock for %d", outOfStock.SKU, outOfStock.Requested),
			Fields: map[string]any{"sku": outOfStock.SKU, "location": outOfStock.Location, "requested": outOfStock.Requested,
				"available": outOfStock.Available}, Err: err}
	case errors.Is(err, stock.ErrInvalid):
		return &Problem{Code: CodeInvalidRequest, Detail: err.Error(), Err: err}
	case errors.As(err, &invalidPromo):
		problems := invalidPromo.Problems
		if problems == nil {
			problems = []promotion.Problem{}
		}
		return &Problem{Code: CodePromotionInvalid, Detail: invalidPromo.Error(), Fields: map[string]any{"problems": problems}, Err: err}
	case errors.As(err, &promoVersion):
		return &Problem{Code: order.CodeVersionConflict, Detail: promoVersion.Error() + "; read it again and send the version you read",
			Fields: map[string]any{"expectedVersion": promoVersion.Expected, "currentVersion": promoVersion.Actual}, Err: err}
	case errors.As(err, &promoMissing):
		return &Problem{Code: CodePromotionNotFound, Detail: fmt.Sprintf("promotion %s not found", promoMissing.ID),
			Fields: map[string]any{"promotion": promoMissing.ID}, Err: err}
	case errors.As(err, &couponExists):
		return &Problem{Code: CodeCouponExists, Detail: fmt.Sprintf("coupon %s exists for another promotion or owner", couponExists.Code),
			Fields: map[string]any{"coupon": couponExists.Code}, Err: err}
	case errors.As(err, &coupon):
		switch coupon.Reason {
		case promotion.ReasonNotFound:
			return couponNotFound(coupon.Code)
		case promotion.ReasonInvalid:
			return &Problem{Code: CodeInvalidRequest, Detail: coupon.Error(), Fields: map[string]any{"coupon": coupon.Code}, Err: err}
		}
		return &Problem{Code: order.CodeCouponUnavailable, Detail: coupon.Error(),
			Fields: map[string]any{"coupon": coupon.Code, "reason": coupon.Reason}, Err: err}
	case errors.As(err, &promoCurrency):
		return &Problem{Code: CodeCurrencyMismatch, Detail: promoCurrency.Error(),
			Fields: map[string]any{"currency": promoCurrency.Order, "expectedCurrency": promoCurrency.Promotion}, Err: err}
	case errors.As(err, &noAccount):
		return &Problem{Code: CodeCreditAccountNotFound, Detail: fmt.Sprintf("agent %s has no credit account", noAccount.Agent),
			Fields: map[string]any{"agent": noAccount.Agent}, Err: err}
	case errors.As(err, &limitTooLow):
		return &Problem{Code: CodeCreditLimitTooLow, Detail: limitTooLow.Error(),
			Fields: map[string]any{"agent": limitTooLow.Agent, "limit": limitTooLow.Limit, "inUse": limitTooLow.InUse}, Err: err}
	case errors.As(err, &payCurrency):
		return &Problem{Code: CodeCurrencyMismatch, Detail: payCurrency.Error(),
			Fields: map[string]any{"currency": payCurrency.Got, "expectedCurrency": payCurrency.Want}, Err: err}
	case errors.As(err, &payInvalid):
		return &Problem{Code: CodeInvalidRequest, Detail: payInvalid.Error(), Fields: map[string]any{"field": payInvalid.Field}, Err: err}
	}
	return nil
}

// bizpackProblem maps an error of the plugin host's Reload or Rollback of
// the bizpack name (see Bizpacks): bizpackhost.ErrUnknown is
// bizpack_not_found, bizpackhost.ErrNoPrevious bizpack_no_previous, and any
// other error is bizpack_refused: the new version did not start, failed its
// checksum or health check, its manifest was refused, or the configuration
// in force does not compile with it; the version in force is untouched.
// The host's message names only what the operator configured (binary,
// version, the configuration's conflicts), so it is the detail.
func bizpackProblem(name string, err error) *Problem {
	fields := map[string]any{"bizpack": name}
	switch {
	case errors.Is(err, bizpackhost.ErrUnknown):
		return &Problem{Code: CodeBizpackNotFound, Detail: fmt.Sprintf("no bizpack %q is configured", name), Fields: fields, Err: err}
	case errors.Is(err, bizpackhost.ErrNoPrevious):
		return &Problem{Code: CodeBizpackNoPrevious, Detail: err.Error(), Fields: fields, Err: err}
	}
	return &Problem{Code: CodeBizpackRefused, Detail: err.Error(), Fields: fields, Err: err}
}

// noBizpackHost answers a reload or rollback on a server without a plugin
// host: no bizpack is configured there.
func noBizpackHost(name string) *Problem {
	return &Problem{Code: CodeBizpackNotFound, Detail: fmt.Sprintf("no bizpack %q is configured: this server runs no bizpacks", name),
		Fields: map[string]any{"bizpack": name}}
}

func couponNotFound(code string) *Problem {
	return &Problem{Code: CodeCouponNotFound, Detail: fmt.Sprintf("coupon %s not found", code), Fields: map[string]any{"coupon": code}}
}

func echoProblem(he *echo.HTTPError) *Problem {
	switch he.Code {
	case http.StatusNotFound:
		return &Problem{Code: CodeNotFound, Detail: "no such resource", Err: he}
	case http.StatusMethodNotAllowed:
		return &Problem{Code: CodeMethodNotAllowed, Detail: "the resource does not support this method", Err: he}
	case http.StatusRequestEntityTooLarge:
		return &Problem{Code: CodeBodyTooLarge, Detail: "the request body is too large", Err: he}
	case http.StatusUnsupportedMediaType:
		return &Problem{Code: CodeUnsupportedMediaType, Detail: "send application/json", Err: he}
	case http.StatusUnauthorized:
		return &Problem{Code: CodeUnauthenticated, Detail: "a bearer token is required", Err: he}
	case http.StatusForbidden:
		return &Problem{Code: CodeForbidden, Detail: "not permitted", Err: he}
	}
	if he.Code >= 400 && he.Code < 500 {
		return &Problem{Code: CodeInvalidRequest, Status: he.Code, Detail: http.StatusText(he.Code), Err: he}
	}
	return &Problem{Code: CodeInternal, Detail: "the server failed to answer this request; it was logged", Err: he}
}

// body encodes the problem as RFC 9457 JSON: the standard members, the code,
// the extension fields, and the request's trace id.
func (p *Problem) body(traceID string) []byte {
	status := p.status()
	title := http.StatusText(status)
	if info, ok := problemCodes[p.Code]; ok {
		title = info.title
	}
	members := map[string]any{}
	for k, v := range p.Fields {
		if renamed, ok := reserved[k]; ok {
			k = renamed
		}
		members[k] = v
	}
	head, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Status  int    `json:"status"`
		Detail  string `json:"detail"`
		Code    string `json:"code"`
		TraceID string `json:"traceId,omitempty"`
	}{ProblemTypeBase + p.Code, title, status, p.Detail, p.Code, traceID})
	if len(members) == 0 {
		return head
	}
	ext, err := json.Marshal(members)
	if err != nil || len(ext) <= 2 {
		return head
	}
	var b strings.Builder
	b.Write(head[:len(head)-1])
	b.WriteByte(',')
	b.Write(ext[1:])
	return []byte(b.String())
}
