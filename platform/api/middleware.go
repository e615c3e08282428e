package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/authn"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// Roles a principal may hold.
const (
	RoleBuyer    = "buyer"
	RoleAgent    = "agent"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles lists the roles a principal may be given.
var Roles = []string{RoleBuyer, RoleAgent, RoleOperator, RoleAdmin}

// Keys of values kept in the echo context for the request log.
const (
	keyTraceID   = "tmf.traceId"
	keyPrincipal = "tmf.principal"
	keyBizCode   = "tmf.bizCode"
	keyErrCode   = "tmf.errorCode"
)

// HeaderRequestID carries the request's trace id, from the client or
// generated, and is echoed in every answer.
const HeaderRequestID = "X-Request-Id"

// principal is the authenticated caller.
type principal struct {
	ID    string
	Roles []string
	// Org is the caller's organisation node ("" if none); OrgPath its
	// current materialised path, e.g. "/hq/east/".
	Org, OrgPath string
	// Identities an operator is granted ("*" = all).
	Identities []string
	Attrs      map[string]string
}

// subject is the caller as the policy sees it.
func (p *principal) subject() authz.Principal {
	return authz.Principal{ID: p.ID, Roles: p.Roles, OrgPath: p.OrgPath, Identities: p.Identities}
}

func principalOf(c echo.Context) *principal {
	p, _ := c.Get(keyPrincipal).(*principal)
	return p
}

func traceID(c echo.Context) string {
	id, _ := c.Get(keyTraceID).(string)
	return id
}

func setBizCode(c echo.Context, code string) {
	if code != "" {
		c.Set(keyBizCode, code)
	}
}

// TokenHash is how a bearer token is stored: the hex SHA-256 of the token.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a fresh bearer token: 32 random bytes, base64url.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// authenticate requires a bearer token (401 otherwise): an opaque token a
// principal was issued, or a JWT when the server verifies them.
// Authorisation is the policy's (guard, orderFor).
func (s *Server) authenticate() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			token = strings.TrimSpace(token)
			if !strings.EqualFold(scheme, "Bearer") || token == "" {
				return problem(CodeUnauthenticated, nil, "send Authorization: Bearer <token>")
			}
			ctx := c.Request().Context()
			var (
				p   *principal
				err error
			)
			if s.jwt != nil && authn.LooksLikeJWT(token) {
				p, err = s.jwtPrincipal(ctx, token)
			} else {
				p, err = s.tokenPrincipal(ctx, token)
			}
			if pe := (*Problem)(nil); errors.As(err, &pe) && pe.Code == CodeUnauthenticated {
				return s.authFailed(c, err)
			}
			if err != nil {
				return err
			}
			if err := s.limitPrincipal(c, p); err != nil {
				return err
			}
			if p.Org != "" && p.OrgPath == "" {
				p.OrgPath, err = s.store.OrgPath(ctx, p.Org)
				if errors.Is(err, store.ErrNotFound) {
					// The tree refuses to remove a node a principal belongs to,
					// but a JWT may name any node: no subtree for an unknown one.
					// Nor does it own the principal's orders: a node created
					// later under that id must not inherit them.
					s.log.WarnContext(ctx, "principal's organisation node is not in the tree", "principal", p.ID, "org", p.Org)
					p.Org, p.OrgPath, err = "", "", nil
				}
				if err != nil {
					return fmt.Errorf("authenticate: organisation of %s: %w", p.ID, err)
				}
			}
			c.Set(keyPrincipal, p)
			return next(c)
		}
	}
}

// tokenPrincipal is the principal an opaque token was issued to.
func (s *Server) tokenPrincipal(ctx context.Context, token string) (*principal, error) {
	sp, err := s.store.PrincipalByTokenHash(ctx, TokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidToken()
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if sp.Disabled || sp.TokenExpiresAt != nil && !time.Now().Before(*sp.TokenExpiresAt) {
		s.log.InfoContext(ctx, "authentication refused", "principal", sp.ID, "disabled", sp.Disabled, "tokenExpiresAt", sp.TokenExpiresAt)
		return nil, invalidToken()
	}
	return s.storedPrincipal(ctx, sp), nil
}

// JWTPrincipalPrefix starts the id of every principal built from a JWT's
// claims: such a principal is not a stored one, and a token whose sub is
// agent-1 must not act (or spend credit) as the stored agent-1.
const JWTPrincipalPrefix = "jwt:"

// invalidToken is every refused bearer token's answer: why it was refused
// (the expected issuer, audience, algorithms, whether a kid exists) is
// logged, never told to the caller.
func invalidToken() *Problem { return problem(CodeUnauthenticated, nil, "invalid token") }

// jwtPrincipal is the principal a verified JWT names: its claims when they
// carry roles (under the id jwt:<sub>), else the stored principal of its
// subject.
func (s *Server) jwtPrincipal(ctx context.Context, token string) (*principal, error) {
	cl, err := s.jwt.Verify(token)
	if err != nil {
		s.log.InfoContext(ctx, "JWT refused", "reason", err.Error())
		return nil, invalidToken()
	}
	if !cl.HasRoles {
		sp, err := s.store.GetPrincipal(ctx, cl.Subject)
		if errors.Is(err, store.ErrNotFound) {
			s.log.InfoContext(ctx, "JWT refused: its subject is no principal and it carries no roles", "subject", cl.Subject)
			return nil, invalidToken()
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if sp.Disabled {
			s.log.InfoContext(ctx, "JWT refused: its subject is disabled", "subject", cl.Subject)
			return nil, invalidToken()
		}
		return s.storedPrincipal(ctx, sp), nil
	}
	for _, r := range cl.Roles {
		if !slices.Contains(Roles, r) {
			s.log.InfoContext(ctx, "JWT refused: unknown role", "role", r, "subject", cl.Subject)
			return nil, invalidToken()
		}
	}
	return &principal{ID: JWTPrincipalPrefix + cl.Subject, Roles: cl.Roles, Org: cl.Org, Identities: cl.Identities}, nil
}

// storedPrincipal is a principal record as the API uses it.
func (s *Server) storedPrincipal(ctx context.Context, sp store.Principal) *principal {
	p := &principal{ID: sp.ID, Org: sp.Org, OrgPath: sp.OrgPath, Roles: splitList(sp.Roles), Identities: splitList(sp.Identities)}
	if sp.Attrs != "" {
		if err := json.Unmarshal([]byte(sp.Attrs), &p.Attrs); err != nil {
			// Attributes only refine identity resolution: serve without them.
			s.log.WarnContext(ctx, "principal attributes are not a JSON object of strings",
				"principal", sp.ID, "error", err)
			p.Attrs = nil
		}
	}
	return p
}

// splitList splits a stored comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for r := range strings.SplitSeq(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// recoverer turns a panic into a 500 problem; the stack goes to the log.
func recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = &Problem{Code: CodeInternal, Detail: "the server failed to answer this request; it was logged",
					Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
			}
		}()
		return next(c)
	}
}

// observe gives the request its trace id, answers its error as a problem,
// counts and times it, and logs one line for it.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := requestID(c.Request().Header.Get(HeaderRequestID))
		c.Set(keyTraceID, id)
		c.Response().Header().Set(HeaderRequestID, id)
		span := s.startRequestSpan(c)

		if err := next(c); err != nil {
			c.Error(err)
		}

		elapsed := time.Since(start)
		req, status := c.Request(), c.Response().Status
		route := c.Path()
		if !s.routes[route] {
			route = "unmatched"
		}
		method := metricMethod(req.Method)
		s.metrics.requests.WithLabelValues(method, route, metricStatus(status)).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())

		outcome, level := "ok", slog.LevelInfo
		switch {
		case status >= 500:
			outcome, level = "error", slog.LevelError
		case status >= 400:
			outcome = "refused"
		}
		attrs := []slog.Attr{slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", status), slog.Duration("duration", elapsed), slog.String("traceId", id),
			slog.String("outcome", outcome)}
		if p := principalOf(c); p != nil {
			attrs = append(attrs, slog.String("principal", p.ID))
		}
		if biz, ok := c.Get(keyBizCode).(string); ok {
			attrs = append(attrs, slog.String("bizCode", biz))
		}
		if code, ok := c.Get(keyErrCode).(string); ok {
			attrs = append(attrs, slog.String("code", code))
		}
		if otelID := tracing.TraceID(req.Context()); otelID != "" {
			attrs = append(attrs, slog.String("otelTraceId", otelID))
		}
		endRequestSpan(c, span, status)
		s.log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}

// metricMethod bounds the method label: a client may send any token as a
// method, and every new label value is a new series kept for ever.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// metricStatus bounds the status label to the codes HTTP defines.
func metricStatus(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// requestID keeps a client's X-Request-Id when it is short printable ASCII,
// and makes one otherwise.
func requestID(given string) string {
	if given != "" && len(given) <= 128 && !strings.ContainsFunc(given, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return given
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// metrics are the API's own: requests by method, route and status, and
// their duration by method and route.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	problems *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_api_requests_total",
			Help: "HTTP requests answered by the API, by method, route template and status."}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tmf_api_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"method", "route"}),
		problems: newProblemsCounter(),
	}
	if reg == nil {
		return m
	}
	// A second server on the same registry shares the first one's series.
	if err := reg.Register(m.requests); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
		m.requests = are.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(m.duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
		m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
	}
	if err := reg.Register(m.problems); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
		m.problems = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return m
}
