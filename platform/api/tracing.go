package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmf-platform/tmf/platform/tracing"
)

// requestPropagator reads a client's W3C trace context (traceparent,
// tracestate): a request that arrives in a sampled trace continues it.
var requestPropagator = propagation.TraceContext{}

// startRequestSpan starts the request's span (kind server, named by the
// route template) and puts it in the request's context; nil while tracing
// is off.
func (s *Server) startRequestSpan(c echo.Context) trace.Span {
	if !tracing.Enabled() {
		return nil
	}
	req := c.Request()
	ctx := requestPropagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
	route := c.Path()
	if !s.routes[route] {
		route = "unmatched"
	}
	method := metricMethod(req.Method)
	ctx, span := tracing.Tracer().Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route)))
	c.SetRequest(req.WithContext(ctx))
	return span
}

// endRequestSpan ends the request's span with what the request came to:
// its status, its problem code, who asked and for which identity.
func endRequestSpan(c echo.Context, span trace.Span, status int) {
	if span == nil {
		return
	}
	attrs := []attribute.KeyValue{attribute.Int("http.response.status_code", status),
		attribute.String("tmf.request_id", traceID(c))}
	if p := principalOf(c); p != nil {
		attrs = append(attrs, attribute.String("tmf.principal.kind", principalKind(p)))
	} else {
		attrs = append(attrs, attribute.String("tmf.principal.kind", "anonymous"))
	}
	if biz, ok := c.Get(keyBizCode).(string); ok {
		attrs = append(attrs, attribute.String("tmf.identity", biz))
	}
	code, _ := c.Get(keyErrCode).(string)
	if code != "" {
		attrs = append(attrs, attribute.String("tmf.problem.code", code))
	}
	span.SetAttributes(attrs...)
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, cmpText(code, http.StatusText(status)))
	}
	span.End()
}

// principalKind is the highest role of a principal, and whether it came
// from a JWT: never its id, which is personal data.
func principalKind(p *principal) string {
	kind := "none"
	for _, r := range []string{RoleAdmin, RoleOperator, RoleAgent, RoleBuyer} {
		if hasRole(p, r) {
			kind = r
			break
		}
	}
	if strings.HasPrefix(p.ID, JWTPrincipalPrefix) {
		kind += "/jwt"
	}
	return kind
}

func hasRole(p *principal, role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func cmpText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
