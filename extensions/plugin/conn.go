package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/internal/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Outcome is how one call of a batch ended, as the bizpack reports it.
type Outcome uint8

const (
	// OK: the implementation answered.
	OK Outcome = iota + 1
	// Skip: the implementation does not apply (extensions.ErrSkip).
	Skip
	// Error: the implementation returned an error.
	Error
	// Panic: the implementation panicked (the bizpack goes on serving).
	Panic
	// Timeout: no answer within the call's deadline.
	Timeout
	// UnknownPoint: the bizpack does not implement the point.
	UnknownPoint
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Skip:
		return "skip"
	case Error:
		return "error"
	case Panic:
		return "panic"
	case Timeout:
		return "timeout"
	case UnknownPoint:
		return "unknown_point"
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Call is one point call of a batch.
type Call struct {
	Point    string
	Identity string
	// Request is the point's request as JSON.
	Request []byte
	// Timeout is the point's deadline for this call.
	Timeout time.Duration
}

// Result answers one Call.
type Result struct {
	Outcome Outcome
	// Response is the point's response as JSON, when Outcome is OK.
	Response []byte
	// Err is the bizpack's description of a failure.
	Err string
	// Took is how long the implementation ran inside the bizpack.
	Took time.Duration

	stack string // of a panic, for the bizpack's log
}

// Conn is the host's side of a connection to one running bizpack.
type Conn struct {
	c      wire.BizpackClient
	health healthpb.HealthClient
}

// ErrNoHealthService: the bizpack does not implement the standard gRPC
// health service, which the protocol requires.
var ErrNoHealthService = errors.New("bizpack does not serve grpc.health.v1.Health/Check (required: docs/bizpacks.md)")

// HealthService is the service name the host asks grpc.health.v1.Health
// about: go-plugin's, which its Go servers register as SERVING.
const HealthService = "plugin"

// Describe returns the bizpack's manifest and the protocol version it was
// built against.
func (c *Conn) Describe(ctx context.Context) (m extensions.Manifest, major, minor uint32, err error) {
	r, err := c.c.Describe(ctx, &wire.DescribeRequest{HostMajor: extensions.ProtocolMajor, HostMinor: extensions.ProtocolMinor})
	if err != nil {
		return m, 0, 0, err
	}
	if err := json.Unmarshal(r.Manifest, &m); err != nil {
		return m, r.Major, r.Minor, fmt.Errorf("bizpack manifest: %w", err)
	}
	return m, r.Major, r.Minor, nil
}

// Health returns nil when the bizpack says it can take calls: both its
// grpc.health.v1.Health/Check for service "plugin" answers SERVING (the
// standard gRPC health check, which go-plugin's servers register and a
// bizpack in another language must implement) and its Bizpack/Health
// answers serving. Either failing, or not implemented, is an error naming
// which.
func (c *Conn) Health(ctx context.Context) error {
	hr, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: HealthService})
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return fmt.Errorf("%w: %w", ErrNoHealthService, err)
		}
		return fmt.Errorf("grpc.health.v1.Health/Check: %w", err)
	}
	if hr.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("grpc.health.v1.Health/Check for %q answers %s", HealthService, hr.Status)
	}
	r, err := c.c.Health(ctx, &wire.HealthRequest{})
	if err != nil {
		return err
	}
	if !r.Serving {
		return fmt.Errorf("bizpack not serving: %s", r.Detail)
	}
	return nil
}

// Invoke sends calls in one round trip and returns one result per call. An
// error means the round trip itself failed (the process is gone, the
// context ended): then no call has a result. When the round trip outlived
// the context's deadline the error wraps context.DeadlineExceeded, whether
// the client or the bizpack's side of the stream noticed first.
func (c *Conn) Invoke(ctx context.Context, calls []Call) ([]Result, error) {
	res, _, err := c.InvokeTraced(ctx, calls)
	return res, err
}

// InvokeTraced is Invoke that carries the trace context of ctx's span, when
// it is sampled, to the bizpack (W3C traceparent and tracestate in the gRPC
// metadata) and returns the spans the bizpack recorded for the round trip:
// one OTLP ResourceSpans message, protobuf-encoded, nil when there are
// none (see SpansTrailer).
func (c *Conn) InvokeTraced(ctx context.Context, calls []Call) ([]Result, []byte, error) {
	var opts []grpc.CallOption
	var trailer metadata.MD
	if tctx, ok := withTraceContext(ctx); ok {
		ctx = tctx
		opts = append(opts, grpc.Trailer(&trailer))
	}
	res, err := c.invoke(ctx, calls, opts...)
	var spans []byte
	if v := trailer.Get(SpansTrailer); len(v) > 0 {
		spans = []byte(v[0])
	}
	return res, spans, err
}

func (c *Conn) invoke(ctx context.Context, calls []Call, opts ...grpc.CallOption) ([]Result, error) {
	in := &wire.InvokeRequest{Calls: make([]*wire.Call, len(calls))}
	for i, call := range calls {
		in.Calls[i] = &wire.Call{Point: call.Point, Identity: call.Identity, Request: call.Request,
			TimeoutMicros: call.Timeout.Microseconds()}
	}
	out, err := c.c.Invoke(ctx, in, opts...)
	if err != nil {
		if status.Code(err) == codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return nil, err
	}
	if len(out.Results) != len(calls) {
		return nil, fmt.Errorf("bizpack answered %d results for %d calls", len(out.Results), len(calls))
	}
	res := make([]Result, len(calls))
	for i, r := range out.Results {
		res[i] = Result{Outcome: outcomeOf(r.Outcome), Response: r.Response, Err: r.Error,
			Took: time.Duration(r.TookMicros) * time.Microsecond}
	}
	return res, nil
}

func outcomeOf(o wire.Outcome) Outcome {
	switch o {
	case wire.Outcome_OUTCOME_OK:
		return OK
	case wire.Outcome_OUTCOME_SKIP:
		return Skip
	case wire.Outcome_OUTCOME_PANIC:
		return Panic
	case wire.Outcome_OUTCOME_TIMEOUT:
		return Timeout
	case wire.Outcome_OUTCOME_UNKNOWN_POINT:
		return UnknownPoint
	}
	return Error
}

// ErrChecksum is returned by Start when the binary is not the one the
// configuration names.
var ErrChecksum = errors.New("bizpack binary checksum does not match the configured SHA-256")
