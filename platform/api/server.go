// Package api is the REST API v1 of the ordering server: SKUs, stock with
// its locations, channel settings, hot-SKU buckets and audit, principals,
// promotions with their coupons and budgets, agents' credit lines, orders
// with their lifecycle events, payments, returns and trace, health,
// readiness and metrics, over echo.
//
// Every error answer is an RFC 9457 problem (application/problem+json) with
// a stable "code"; one table (problemCodes) maps the codes of the API, the
// order service, the kernel and the store to HTTP statuses; a database
// that cannot serve is a 503 "unavailable" with Retry-After, and anything
// else is a 500 "internal" whose cause is logged, never shown. Callers
// authenticate with "Authorization: Bearer <token>"; the store keeps only
// the token's SHA-256. docs/openapi.yaml is the contract, and a test holds
// every live answer to it.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/authn"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/configs"
	"github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/replica"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// Limits bound what one request may ask for. Zero fields take the defaults.
type Limits struct {
	// MaxBodyBytes of a request body; longer is 413 body_too_large. Default 1 MiB.
	MaxBodyBytes int64
	// MaxItems of an order; more is 400 invalid_items. Default 100.
	MaxItems int
	// MaxQuantity of one item; more is 400 invalid_quantity. Default 10000.
	MaxQuantity int64
	// MaxPageSize of a list; a larger limit is 400 invalid_limit. Default 100.
	MaxPageSize int
	// DefaultPageSize of a list without limit. Default 20.
	DefaultPageSize int
	// MaxUnpaidOrders a buyer may hold unpaid (created or pending
	// payment); one more is 409 unpaid_limit. Default 50; negative: no cap.
	MaxUnpaidOrders int64
	// MaxUnpaidQuantity of one SKU a buyer's unpaid orders may hold
	// together; more is 409 unpaid_limit. Default 1000; negative: no cap.
	MaxUnpaidQuantity int64
}

// DefaultLimits are the limits of a zero Limits.
var DefaultLimits = Limits{MaxBodyBytes: 1 << 20, MaxItems: 100, MaxQuantity: 10000, MaxPageSize: 100, DefaultPageSize: 20,
	MaxUnpaidOrders: 50, MaxUnpaidQuantity: 1000}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxBodyBytes > 0 {
		d.MaxBodyBytes = l.MaxBodyBytes
	}
	if l.MaxItems > 0 {
		d.MaxItems = l.MaxItems
	}
	if l.MaxQuantity > 0 {
		d.MaxQuantity = l.MaxQuantity
	}
	if l.MaxPageSize > 0 {
		d.MaxPageSize = l.MaxPageSize
	}
	if l.DefaultPageSize > 0 {
		d.DefaultPageSize = l.DefaultPageSize
	}
	if l.MaxUnpaidOrders != 0 {
		d.MaxUnpaidOrders = l.MaxUnpaidOrders
	}
	if l.MaxUnpaidQuantity != 0 {
		d.MaxUnpaidQuantity = l.MaxUnpaidQuantity
	}
	d.DefaultPageSize = min(d.DefaultPageSize, d.MaxPageSize)
	return d
}

// DefaultIdempotencyLease is the lease of a request's claim of its
// Idempotency-Key. The request renews it every third of the lease while it
// runs; a claim whose request died (its process crashed, or it lost the
// database) is taken over by a retry once the lease runs out.
const DefaultIdempotencyLease = 6 * time.Second

// Config wires the API.
type Config struct {
	// Service places and moves orders. Required.
	Service *order.Service
	// Store holds SKUs, principals, orders and idempotency records, and the
	// domains' tables (stock, promotions, coupons, budgets, payments,
	// credit), which the admin endpoints change in its transactions. Required.
	Store *store.Store
	// Stock is the stock database when stock lives in its own
	// (platform/stockcenter); nil: Store. The stock endpoints read and
	// write it; their audit entries are written in its transactions.
	Stock *store.Store
	// Promotions is the promotion book the kernel's promotion.candidates
	// default reads (the one given to catalog.Sources and
	// order.WithPromotions): the admin endpoints write promotions through it
	// and refresh it after every write, so that orders see the change at
	// once. Nil gives the API a book of its own: writes still reach the
	// database, and a book that orders read sees them at its next refresh.
	Promotions *promotion.Book
	// Kernel is the extension kernel the service runs on; when Ready is
	// nil, readiness also requires a configuration (revision > 0) in force.
	Kernel *kernel.Kernel
	// Bizpacks is the plugin host, for the admin endpoints that show,
	// reload and roll back bizpacks; nil means the server runs none.
	Bizpacks Bizpacks
	// Configs keeps the kernel's configuration as stored revisions, for the
	// identity endpoints; nil makes one over Store and Kernel (without
	// starting bizpacks a change binds: give the server's own, wired to the
	// bizpack host, in production).
	Configs *configs.Source
	// BizpackUploads is the directory uploaded bizpack binaries are kept
	// in ("<dir>/<name>/<sha256>"); "" refuses uploads.
	BizpackUploads string
	// MaxBizpackBytes bounds an uploaded binary; default 256 MiB.
	MaxBizpackBytes int64
	// Policy decides every request (see docs/permissions.md); nil runs the
	// shipped default policy.
	Policy *authz.Engine
	// JWT verifies JWT bearer tokens; nil accepts opaque tokens only.
	JWT *authn.Verifier
	// Logger receives one line per request and every internal error; nil
	// discards.
	Logger *slog.Logger
	// Gatherer is served at /metrics; nil serves nothing but an empty page.
	Gatherer prometheus.Gatherer
	// Registerer receives the API's request counter and duration histogram;
	// nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Ready answers /readyz; nil checks that the kernel has a
	// configuration and that the store takes a write (Store.ProbeWrite of
	// Node's row).
	Ready func(ctx context.Context) error
	// ReadyChecks run after Ready; any error makes /readyz answer 503
	// (e.g. an outbox backlog older than its limit).
	ReadyChecks []func(ctx context.Context) error
	// Node names this server in the readiness probe's row: one per server
	// on a shared database. Default: the host name.
	Node string
	// Limits on request bodies, orders and pages.
	Limits Limits
	// IdempotencyLease: see DefaultIdempotencyLease (the default).
	IdempotencyLease time.Duration
	// RateLimits per principal and per address; the zero value limits
	// nothing (tmfd serves with DefaultRateLimits unless told otherwise).
	RateLimits RateLimits
	// Dashboard answers GET /v1/admin/dashboard; nil answers 503
	// dashboard_disabled.
	Dashboard Dashboard
	// Webhooks registers webhook endpoints and shows their delivery log
	// (/v1/admin/webhooks); nil serves no webhook routes.
	Webhooks *webhooks.Service
	// Reconciler runs reconciliation for /v1/admin/reconciliation/...; nil
	// answers them 503 reconciliation_disabled.
	Reconciler *reconcile.Runner
	// ReadSide is the order read model (readside.go): back-office lists
	// and searches, reads by id level by level; nil lists from the store.
	ReadSide *ReadSide
	// Fulfilment takes supplier callbacks and lists late successes; nil
	// answers them 503 fulfilment_disabled.
	Fulfilment *fulfilment.Service
	// Replicas are read replicas of the order store (replicas.go): the
	// store's lag-tolerant reads go to them with read-your-writes; nil
	// reads the store.
	Replicas *replica.Set
}

// Server is the REST API. It is an http.Handler factory; it holds no
// per-request state and is safe for concurrent use.
type Server struct {
	svc            *order.Service
	store          *store.Store
	stock          *store.Store // the stock database: Config.Stock or store
	book           *promotion.Book
	kernel         *kernel.Kernel
	bizpacks       Bizpacks
	configs        *configs.Source
	uploads        string
	maxUpload      int64
	policy         *authz.Engine
	jwt            *authn.Verifier
	log            *slog.Logger
	metricsHandler http.Handler
	gatherer       prometheus.Gatherer
	ready          func(ctx context.Context) error
	readyChecks    []func(ctx context.Context) error
	node           string
	limits         Limits
	lease          time.Duration
	// release deletes a failed request's claim: the store's
	// ReleaseIdempotency (replaced by tests that make it fail).
	release func(ctx context.Context, principal, key, owner string) error
	metrics *metrics
	rate    *limiter
	// webhooks: see Config.Webhooks.
	webhooks  *webhooks.Service
	dashboard Dashboard
	echo      *echo.Echo
	routes    map[string]bool
	// actions is the policy action of every authenticated route, by
	// "METHOD path".
	actions map[string]access
	// reconcile is Config.Reconciler.
	reconcile *reconcile.Runner
	// readSide is Config.ReadSide.
	readSide *ReadSide
	// fulfilment is Config.Fulfilment.
	fulfilment *fulfilment.Service
	// replicas is Config.Replicas.
	replicas *replica.Set
}

// New builds the API. It panics on a missing Service or Store, or when the
// shipped default policy does not load: those are wiring mistakes, not
// run-time conditions.
func New(cfg Config) *Server {
	if cfg.Service == nil || cfg.Store == nil {
		panic("api: Config.Service and Config.Store are required")
	}
	s := &Server{svc: cfg.Service, store: cfg.Store, book: cfg.Promotions, kernel: cfg.Kernel, bizpacks: cfg.Bizpacks, log: cfg.Logger,
		policy: cfg.Policy, jwt: cfg.JWT, ready: cfg.Ready, node: cfg.Node, limits: cfg.Limits.withDefaults(), lease: cfg.IdempotencyLease,
		routes: map[string]bool{}, actions: map[string]access{}, configs: cfg.Configs, uploads: cfg.BizpackUploads, maxUpload: cfg.MaxBizpackBytes}
	if s.stock = cfg.Stock; s.stock == nil {
		s.stock = cfg.Store
	}
	if s.configs == nil && s.kernel != nil {
		s.configs = configs.New(cfg.Store, cfg.Kernel, nil, cfg.Logger)
	}
	if s.maxUpload <= 0 {
		s.maxUpload = DefaultMaxBizpackBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.policy == nil {
		pol, err := authz.New(context.Background(), authz.Options{Logger: s.log})
		if err != nil {
			panic(fmt.Sprintf("api: the default policy: %v", err))
		}
		s.policy = pol
	}
	if s.book == nil {
		s.book = promotion.NewBook(nil)
	}
	if s.lease <= 0 {
		s.lease = DefaultIdempotencyLease
	}
	s.release = s.store.ReleaseIdempotency
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = prometheus.Gatherers{}
	}
	s.metricsHandler = promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	s.gatherer = gatherer
	if s.ready == nil {
		s.ready = s.defaultReady
	}
	s.readyChecks = cfg.ReadyChecks
	if s.node == "" {
		s.node = DefaultNode()
	}
	s.reconcile = cfg.Reconciler
	s.fulfilment = cfg.Fulfilment
	s.metrics = newMetrics(cfg.Registerer)
	s.rate = newLimiter(cfg.RateLimits, nil)
	s.webhooks = cfg.Webhooks
	s.readSide = cfg.ReadSide
	s.dashboard = cfg.Dashboard
	s.replicas = cfg.Replicas

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, recoverer, s.limitAnonymous, s.invalidateOrders, s.markWrites)
	s.echo = e
	s.register()
	return s
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) register() {
	open := func(method, path string, h echo.HandlerFunc) {
		s.echo.Add(method, path, h)
		s.routes[path] = true
	}
	add := func(method, path string, h echo.HandlerFunc, a access) {
		s.echo.Add(method, path, h, s.guard(a))
		s.routes[path] = true
		s.actions[method+" "+path] = a
	}

	open(http.MethodGet, "/healthz", s.healthz)
	open(http.MethodGet, "/readyz", s.readyz)
	open(http.MethodGet, "/metrics", s.metricsPage)

	add(http.MethodPut, "/v1/skus/:sku", s.putSKU, function(ActionSKUsWrite))
	add(http.MethodGet, "/v1/skus/:sku", s.getSKU, function(ActionCatalogRead))
	add(http.MethodPut, "/v1/stock/:sku", s.putStock, function(ActionStockWrite))
	add(http.MethodGet, "/v1/stock/:sku", s.getStock, function(ActionCatalogRead))
	add(http.MethodPut, "/v1/stock/:sku/channels/:channel", s.putChannel, function(ActionStockWrite))
	add(http.MethodDelete, "/v1/stock/:sku/channels/:channel", s.deleteChannel, function(ActionStockWrite))
	add(http.MethodPut, "/v1/stock/:sku/buckets", s.putBuckets, function(ActionStockWrite))
	add(http.MethodPut, "/v1/locations/:name", s.putLocation, function(ActionStockWrite))
	add(http.MethodGet, "/v1/locations", s.listLocations, function(ActionStockRead))
	add(http.MethodGet, "/v1/admin/stock/audit", s.auditStock, function(ActionStockAudit))
	add(http.MethodGet, "/v1/admin/payments/audit", s.auditMoney, function(ActionPaymentsAudit))
	add(http.MethodGet, "/v1/admin/payments/refunds/failed", s.failedRefunds, function(ActionPaymentsRead))
	add(http.MethodPost, "/v1/admin/payments/:id/retry", s.retryPayment, function(ActionPaymentsRetry))
	s.registerReconciliation(add)
	s.registerFulfilment(open, add)
	add(http.MethodPost, "/v1/admin/principals", s.createPrincipal, function(ActionPrincipalsWrite))
	add(http.MethodGet, "/v1/admin/principals/:id", s.getPrincipal, function(ActionPrincipalsRead))
	add(http.MethodGet, "/v1/admin/principals", s.listPrincipals, function(ActionPrincipalsRead))
	add(http.MethodPut, "/v1/admin/principals/:id", s.updatePrincipal, function(ActionPrincipalsWrite))
	add(http.MethodDelete, "/v1/admin/principals/:id", s.deletePrincipal, function(ActionPrincipalsWrite))
	add(http.MethodPost, "/v1/admin/principals/:id/token", s.rotateToken, function(ActionPrincipalsWrite))
	add(http.MethodGet, "/v1/me", s.me, function(ActionMe))
	add(http.MethodGet, "/v1/admin/identities", s.listIdentities, function(ActionIdentityList))
	add(http.MethodGet, "/v1/admin/identities/:code", s.getIdentity, onResource(ActionIdentityRead))
	add(http.MethodPut, "/v1/admin/identities/:code", s.putIdentity, onResource(ActionIdentityWrite))
	add(http.MethodPost, "/v1/admin/identities/:code/preview", s.previewIdentity, onResource(ActionIdentityWrite))
	add(http.MethodGet, "/v1/admin/identities/:code/plan", s.identityPlan, onResource(ActionIdentityRead))
	add(http.MethodGet, "/v1/admin/identities/:code/lifecycle", s.identityLifecycle, onResource(ActionIdentityRead))
	add(http.MethodGet, "/v1/admin/identities/:code/audit", s.identityAudit, onResource(ActionIdentityRead))
	add(http.MethodGet, "/v1/admin/extension-points", s.listPoints, function(ActionExtensionsRead))
	add(http.MethodGet, "/v1/admin/products", s.listProducts, function(ActionExtensionsRead))
	add(http.MethodGet, "/v1/admin/audit", s.listAudit, function(ActionAuditRead))
	add(http.MethodPost, "/v1/admin/orgs", s.createOrg, function(ActionOrgsWrite))
	add(http.MethodGet, "/v1/admin/orgs", s.listOrgs, function(ActionOrgsRead))
	add(http.MethodGet, "/v1/admin/orgs/:id", s.getOrg, function(ActionOrgsRead))
	add(http.MethodPost, "/v1/admin/orgs/:id/move", s.moveOrg, function(ActionOrgsWrite))
	add(http.MethodDelete, "/v1/admin/orgs/:id", s.removeOrg, function(ActionOrgsWrite))
	add(http.MethodGet, "/v1/admin/policies", s.policyStatus, function(ActionPoliciesRead))
	add(http.MethodPost, "/v1/admin/policies/reload", s.reloadPolicy, function(ActionPoliciesWrite))
	add(http.MethodGet, "/v1/admin/bizpacks", s.listBizpacks, function(ActionBizpacksRead))
	add(http.MethodPut, "/v1/admin/bizpacks/:name/binaries", s.uploadBizpack, function(ActionBizpacksWrite))
	add(http.MethodPost, "/v1/admin/bizpacks/:name/reload", s.reloadBizpack, function(ActionBizpacksWrite))
	add(http.MethodPost, "/v1/admin/bizpacks/:name/rollback", s.rollbackBizpack, function(ActionBizpacksWrite))

	add(http.MethodGet, "/v1/admin/promotions", s.listPromotions, function(ActionPromotionsRead))
	add(http.MethodPut, "/v1/admin/promotions/:id", s.putPromotion, function(ActionPromotionsWrite))
	add(http.MethodGet, "/v1/admin/promotions/:id", s.getPromotion, function(ActionPromotionsRead))
	add(http.MethodPost, "/v1/admin/promotions/:id/coupons", s.issueCoupons, function(ActionPromotionsWrite))
	add(http.MethodPost, "/v1/admin/promotions/:id/budget", s.topUpBudget, function(ActionPromotionsWrite))
	add(http.MethodPut, "/v1/admin/promotion-groups", s.putGroupOrder, function(ActionPromotionsWrite))
	add(http.MethodGet, "/v1/coupons/:code", s.getCoupon, onResource(ActionCouponRead))

	add(http.MethodPut, "/v1/admin/credit/:agent", s.putCredit, function(ActionCreditWrite))
	add(http.MethodGet, "/v1/admin/credit/:agent", s.getCredit, function(ActionCreditRead))
	add(http.MethodGet, "/v1/credit", s.getOwnCredit, function(ActionCreditReadOwn))

	add(http.MethodPost, "/v1/orders", s.placeOrder, function(ActionOrderPlace))
	add(http.MethodGet, "/v1/orders", s.listOrders, function(ActionOrderList))
	add(http.MethodGet, "/v1/orders/:id", s.getOrder, onResource(ActionOrderRead))
	add(http.MethodPost, "/v1/orders/:id/events", s.fireEvent, onResource(ActionOrderEvent))
	add(http.MethodGet, "/v1/orders/:id/trace", s.getTrace, onResource(ActionOrderTrace))
	add(http.MethodGet, "/v1/orders/:id/history", s.getHistory, onResource(ActionOrderRead))
	add(http.MethodPost, "/v1/orders/:id/payments", s.pay, onResource(ActionOrderPay))
	add(http.MethodGet, "/v1/orders/:id/payments", s.listPayments, onResource(ActionOrderPayments))
	add(http.MethodPost, "/v1/orders/:id/returns", s.returnItems, onResource(ActionOrderReturn))
	add(http.MethodGet, "/v1/orders/:id/returns", s.listReturns, onResource(ActionOrderReturns))
	add(http.MethodPost, "/v1/orders/:id/returns/:returnId/approve", s.returnStep(order.ReturnApprove), onResource(ActionOrderReturnApprove))
	add(http.MethodPost, "/v1/orders/:id/returns/:returnId/reject", s.returnStep(order.ReturnReject), onResource(ActionOrderReturnReject))
	add(http.MethodPost, "/v1/orders/:id/returns/:returnId/receive", s.returnStep(order.ReturnReceive), onResource(ActionOrderReturnReceive))
	add(http.MethodPost, "/v1/orders/:id/returns/:returnId/cancel", s.returnStep(order.ReturnCancel), onResource(ActionOrderReturnCancel))
	add(http.MethodGet, "/v1/admin/events/types", s.listEventTypes, function(ActionWebhooksRead))
	add(http.MethodGet, "/v1/admin/readmodel", s.readModelStatus, function(ActionReadModelRead))
	s.registerWebhooks(add)
	s.registerEventStatus(add)
	s.registerDashboard(add)
}

// Routes lists the authenticated routes ("METHOD /path/:param") with the
// policy action each asks about, for docs and tests.
func (s *Server) Routes() map[string]string {
	out := make(map[string]string, len(s.actions))
	for k, a := range s.actions {
		out[k] = a.action
	}
	return out
}

// handleError is echo's error handler: every error becomes a problem.
func (s *Server) handleError(err error, c echo.Context) {
	p := problemOf(err)
	c.Set(keyErrCode, p.Code)
	s.metrics.countProblem(p.Code)
	status := p.status()
	if status >= 500 {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed", slog.String("traceId", traceID(c)),
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path),
			slog.String("code", p.Code), slog.Any("error", errorText(p)))
	}
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	switch p.Code {
	case CodeUnauthenticated:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="tmf"`)
	case CodeUnavailable:
		h.Set(echo.HeaderRetryAfter, strconv.Itoa(UnavailableRetryAfter))
	}
	h.Set(echo.HeaderContentType, ProblemContentType)
	h.Set("Cache-Control", "no-store")
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return
	}
	c.Response().WriteHeader(status)
	_, _ = c.Response().Write(p.body(traceID(c)))
}

func errorText(p *Problem) string {
	if p.Err != nil {
		return p.Err.Error()
	}
	return p.Detail
}

func (s *Server) defaultReady(ctx context.Context) error {
	if s.kernel != nil && s.kernel.Plans().Revision() == 0 {
		return errors.New("no configuration applied to the kernel")
	}
	return s.store.ProbeWrite(ctx, s.node)
}

// DefaultNode is the name of this server in the readiness probe's row when
// Config.Node is empty: the host name.
func DefaultNode() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "tmfd"
}

// UnavailableRetryAfter is the Retry-After, in seconds, of a 503
// unavailable: long enough for a pool to reconnect or a database to fail
// over, short enough that a client does not give up.
const UnavailableRetryAfter = 2

// Bizpacks is what the admin API needs of the plugin host
// (bizpackhost.Host).
type Bizpacks interface {
	// States reports every bizpack in force.
	States() []kernel.BizpackState
	// Reload starts a configured bizpack again, from a new binary when
	// path and sha256 are given, and puts it in force once healthy.
	Reload(ctx context.Context, name, path, sha256 string) (version string, err error)
	// Rollback puts the previous version back in force.
	Rollback(name string) (version string, err error)
}
