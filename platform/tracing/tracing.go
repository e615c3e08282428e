// Package tracing is the server's OpenTelemetry tracing: a span per API
// request, per extension invocation, per bizpack round trip and per
// database transaction, exported by OTLP when configured and off by
// default.
//
// The instrumented packages (platform/api, platform/kernel,
// platform/bizpackhost, platform/store) call Enabled before they make a
// span: when tracing is off they make none, allocate nothing and pay one
// atomic load. Start turns tracing on for the process (the server does it
// once, from its configuration); its Provider's Shutdown flushes what is
// buffered and turns it off again.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every span the server makes.
const ScopeName = "github.com/tmf-platform/tmf"

// Protocols of the OTLP exporter.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Samplers Config.Sampler may name: the values of OTEL_TRACES_SAMPLER.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Defaults of Config.
const (
	DefaultSampler     = SamplerParentBasedTraceIDRatio
	DefaultRatio       = 0.1
	DefaultServiceName = "tmfd"
	DefaultProtocol    = ProtocolGRPC
)

// Config is the "tracing" key of the server's configuration file, and what
// its --otlp-* and --trace-* flags set. An empty OTLPEndpoint turns tracing
// off.
type Config struct {
	// OTLPEndpoint is the collector's URL: http://host:4317 (gRPC) or
	// http://host:4318 (HTTP; the path /v1/traces is added when the URL has
	// none). https:// uses TLS; http:// does not.
	OTLPEndpoint string `json:"otlpEndpoint,omitempty"`
	// Protocol is grpc (default) or http (OTLP/HTTP with protobuf bodies).
	Protocol string `json:"protocol,omitempty"`
	// Sampler is one of the OTEL_TRACES_SAMPLER values (default
	// parentbased_traceidratio): a request that arrives with a sampled
	// traceparent is traced, others by Ratio.
	Sampler string `json:"sampler,omitempty"`
	// Ratio is the share of new traces sampled by the *traceidratio
	// samplers, 0 to 1 (default 0.1). Nil is the default.
	Ratio *float64 `json:"ratio,omitempty"`
	// ServiceName is the service.name resource attribute (default tmfd).
	ServiceName string `json:"serviceName,omitempty"`
}

// Enabled says whether Config turns tracing on.
func (c Config) Enabled() bool { return c.OTLPEndpoint != "" }

// Over returns c with every field it leaves empty taken from under.
func (c Config) Over(under Config) Config {
	if c.OTLPEndpoint == "" {
		c.OTLPEndpoint = under.OTLPEndpoint
	}
	if c.Protocol == "" {
		c.Protocol = under.Protocol
	}
	if c.Sampler == "" {
		c.Sampler = under.Sampler
	}
	if c.Ratio == nil {
		c.Ratio = under.Ratio
	}
	if c.ServiceName == "" {
		c.ServiceName = under.ServiceName
	}
	return c
}

// FromEnv reads the standard OpenTelemetry variables:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (else OTEL_EXPORTER_OTLP_ENDPOINT),
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (else OTEL_EXPORTER_OTLP_PROTOCOL:
// grpc, http/protobuf), OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG and
// OTEL_SERVICE_NAME. OTEL_SDK_DISABLED=true turns the endpoint off.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return c, nil
	}
	c.OTLPEndpoint = first(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	switch p := first(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); p {
	case "":
	case "grpc":
		c.Protocol = ProtocolGRPC
	case "http/protobuf", "http":
		c.Protocol = ProtocolHTTP
	default:
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: the server speaks grpc or http/protobuf", p)
	}
	c.Sampler = getenv("OTEL_TRACES_SAMPLER")
	if arg := getenv("OTEL_TRACES_SAMPLER_ARG"); arg != "" && strings.HasSuffix(c.Sampler, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return c, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", arg)
		}
		c.Ratio = &r
	}
	c.ServiceName = getenv("OTEL_SERVICE_NAME")
	return c, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Check reports every setting that is wrong, or nil.
func (c Config) Check() error {
	var errs []error
	if c.OTLPEndpoint != "" {
		u, err := url.Parse(c.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracing: otlpEndpoint %q: want a URL such as http://collector:4317", c.OTLPEndpoint))
		}
	}
	switch c.Protocol {
	case "", ProtocolGRPC, ProtocolHTTP:
	default:
		errs = append(errs, fmt.Errorf("tracing: protocol %q: want grpc or http", c.Protocol))
	}
	if _, err := c.sampler(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) sampler() (sdktrace.Sampler, error) {
	ratio := DefaultRatio
	if c.Ratio != nil {
		ratio = *c.Ratio
	}
	if ratio < 0 || ratio > 1 {
		return nil, fmt.Errorf("tracing: ratio %g: want a number from 0 to 1", ratio)
	}
	switch c.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case SamplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(ratio), nil
	case SamplerParentBasedAlwaysOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "", SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("tracing: sampler %q: want one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", c.Sampler)
}

// state is what Start turned on.
type state struct {
	tracer trace.Tracer
	// proc receives the spans bizpacks report (Reemit), beside the
	// provider's own.
	proc sdktrace.SpanProcessor
}

var active atomic.Pointer[state]

// Enabled reports whether tracing is on in this process. Instrumentation
// calls it before making a span.
func Enabled() bool { return active.Load() != nil }

// Tracer is the server's tracer: a no-op one while tracing is off.
func Tracer() trace.Tracer {
	if s := active.Load(); s != nil {
		return s.tracer
	}
	return noopTracer
}

var noopTracer = noop.NewTracerProvider().Tracer(ScopeName)

// Provider is tracing turned on by Start.
type Provider struct {
	tp   *sdktrace.TracerProvider
	prev *state
}

// Options tune Start beyond Config (tests, the server's version).
type Options struct {
	// Version is the service.version resource attribute.
	Version string
	// BatchTimeout is the longest a finished span waits in the exporter's
	// batch (default 5s).
	BatchTimeout time.Duration
	// Exporter replaces the OTLP exporter (tests).
	Exporter sdktrace.SpanExporter
}

// Start turns tracing on for the process: spans go by OTLP to
// cfg.OTLPEndpoint, sampled as cfg says, and the W3C trace-context
// propagator becomes the global one. With tracing off in cfg (and no
// Options.Exporter) it does nothing and returns a nil *Provider, whose
// Shutdown does nothing.
func Start(ctx context.Context, cfg Config, o Options) (*Provider, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	exp := o.Exporter
	if exp == nil {
		if !cfg.Enabled() {
			return nil, nil
		}
		var err error
		if exp, err = exporter(ctx, cfg); err != nil {
			return nil, err
		}
	}
	sampler, _ := cfg.sampler()
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", first(cfg.ServiceName, DefaultServiceName)),
		attribute.String("service.version", o.Version)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	var bopts []sdktrace.BatchSpanProcessorOption
	if o.BatchTimeout > 0 {
		bopts = append(bopts, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	proc := sdktrace.NewBatchSpanProcessor(exp, bopts...)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithResource(res), sdktrace.WithSpanProcessor(proc))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	p := &Provider{tp: tp}
	p.prev = active.Swap(&state{tracer: tp.Tracer(ScopeName), proc: proc})
	return p, nil
}

func exporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	switch cfg.Protocol {
	case ProtocolHTTP:
		u, _ := url.Parse(cfg.OTLPEndpoint)
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	default:
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint))
	}
}

// Shutdown exports what is buffered (until ctx ends) and turns tracing
// off again.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	active.Store(p.prev)
	otel.SetTracerProvider(noop.NewTracerProvider())
	return p.tp.Shutdown(ctx)
}

// ForceFlush exports every finished span now.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}

// TraceID is the hex trace id of the span in ctx, "" when there is none
// (tracing off, or the request was not sampled).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// Traceparent is the W3C traceparent and tracestate of the span in ctx,
// as CloudEvents' distributed-tracing extension carries them; "" when
// there is no sampled span.
func Traceparent(ctx context.Context) (traceparent, tracestate string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return "", ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags()), sc.TraceState().String()
}

// Error marks span failed with err.
func Error(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
