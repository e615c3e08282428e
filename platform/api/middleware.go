package api

import (
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

	"github.com/tmf-platform/tmf/platform/store"
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
	Org   string
	Attrs map[string]string
}

func (p *principal) has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// seesAll reports whether the principal sees every order, not only its own.
func (p *principal) seesAll() bool { return p.has(RoleOperator, RoleAdmin) }

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

// authenticate requires a bearer token of a known principal (401
// otherwise) holding one of roles, when any are given (403 otherwise).
func (s *Server) authenticate(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			token = strings.TrimSpace(token)
			if !strings.EqualFold(scheme, "Bearer") || token == "" {
				return problem(CodeUnauthenticated, nil, "send Authorization: Bearer <token>")
			}
			sp, err := s.store.PrincipalByTokenHash(c.Request().Context(), TokenHash(token))
			if errors.Is(err, store.ErrNotFound) {
				return problem(CodeUnauthenticated, nil, "the bearer token is not known")
			}
			if err != nil {
				return fmt.Errorf("authenticate: %w", err)
			}
			p := &principal{ID: sp.ID, Org: sp.Org}
			if sp.Attrs != "" {
				if err := json.Unmarshal([]byte(sp.Attrs), &p.Attrs); err != nil {
					// Attributes only refine identity resolution: serve without them.
					s.log.WarnContext(c.Request().Context(), "principal attributes are not a JSON object of strings",
						"principal", sp.ID, "error", err)
					p.Attrs = nil
				}
			}
			for r := range strings.SplitSeq(sp.Roles, ",") {
				if r = strings.TrimSpace(r); r != "" {
					p.Roles = append(p.Roles, r)
				}
			}
			c.Set(keyPrincipal, p)
			if len(roles) > 0 && !p.has(roles...) {
				return problem(CodeForbidden, map[string]any{"requiredRoles": roles},
					"this needs one of the roles %s", strings.Join(roles, ", "))
			}
			return next(c)
		}
	}
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

		if err := next(c); err != nil {
			c.Error(err)
		}

		elapsed := time.Since(start)
		req, status := c.Request(), c.Response().Status
		route := c.Path()
		if !s.routes[route] {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(req.Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(req.Method, route).Observe(elapsed.Seconds())

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
		s.log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
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
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_api_requests_total",
			Help: "HTTP requests answered by the API, by method, route template and status."}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tmf_api_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"method", "route"}),
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
	return m
}
