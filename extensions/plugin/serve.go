// Package plugin is the go-plugin glue of the bizpack protocol: Serve runs
// a bizpack as a plugin process, and Start runs one from the host side
// (the platform's plugin host and the test harness both use it).
//
// The wire format is gRPC (extensions/proto/bizpack.proto) with go-plugin's
// automatic mutual TLS. A bizpack author calls only Serve.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/internal/wire"
)

// Name is the name of the one plugin a bizpack process serves.
const Name = "bizpack"

// Handshake is the go-plugin handshake of the bizpack protocol. Its
// ProtocolVersion is the protocol's major version: a host and a bizpack of
// different majors refuse each other at start.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  extensions.ProtocolMajor,
	MagicCookieKey:   "TMF_BIZPACK",
	MagicCookieValue: "tmf-bizpack-v1",
}

// parentPoll is how often a serving bizpack checks that the process that
// started it is still there.
const parentPoll = 250 * time.Millisecond

// Serve runs b as a plugin process and returns only when the host ends it.
// It refuses to start, printing every problem to stderr and exiting with
// status 2, if b does not check (see extensions.Bizpack.Err). Run by hand
// rather than by a host, it says so and exits with status 1.
//
// Each call runs on its own goroutine under the point's deadline; a panic
// is caught and reported as a panic outcome, and the process goes on
// serving. The process exits by itself when its parent process is gone, so
// a host that crashed leaves no bizpack behind.
func Serve(b *extensions.Bizpack) {
	if err := b.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go exitWithParent(os.Getppid())
	// JSON lines on stderr reach the host's log at their level.
	log := hclog.New(&hclog.LoggerOptions{Name: b.Manifest().Name, Level: hclog.Warn, Output: os.Stderr, JSONFormat: true})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{server: &server{b: b, log: log}}},
		GRPCServer:      goplugin.DefaultGRPCServer,
		Logger:          log,
	})
}

// exitWithParent ends the process once it has been orphaned: on Linux the
// host also asks the kernel to kill it (Pdeathsig); this covers the other
// systems and a host started through a wrapper.
func exitWithParent(ppid int) {
	for range time.Tick(parentPoll) {
		if os.Getppid() != ppid {
			os.Exit(3)
		}
	}
}

// grpcPlugin is the go-plugin plugin of the bizpack protocol: gRPC only.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	server *server // set on the bizpack side only
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterBizpackServer(s, p.server)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Conn{c: wire.NewBizpackClient(c), health: healthpb.NewHealthClient(c)}, nil
}

// server answers the host's calls with the bizpack's implementations.
type server struct {
	wire.UnimplementedBizpackServer
	b   *extensions.Bizpack
	log hclog.Logger
}

func (s *server) Describe(context.Context, *wire.DescribeRequest) (*wire.DescribeResponse, error) {
	m, err := json.Marshal(s.b.Manifest())
	if err != nil {
		return nil, err
	}
	return &wire.DescribeResponse{Major: extensions.ProtocolMajor, Minor: extensions.ProtocolMinor, Manifest: m}, nil
}

func (s *server) Health(context.Context, *wire.HealthRequest) (*wire.HealthResponse, error) {
	return &wire.HealthResponse{Serving: true}, nil
}

func (s *server) Invoke(ctx context.Context, in *wire.InvokeRequest) (*wire.InvokeResponse, error) {
	out := &wire.InvokeResponse{Results: make([]*wire.Result, len(in.Calls))}
	ctx, tr := s.startTrace(ctx, len(in.Calls))
	one := func(i int, c *wire.Call) {
		if tr == nil {
			out.Results[i] = s.call(ctx, c)
			return
		}
		cctx, sp := tr.startCall(ctx, c)
		out.Results[i] = s.call(cctx, c)
		endCall(sp, out.Results[i])
	}
	if len(in.Calls) == 1 {
		one(0, in.Calls[0])
	} else {
		var wg sync.WaitGroup
		for i, c := range in.Calls {
			wg.Go(func() { one(i, c) })
		}
		wg.Wait()
	}
	if tr != nil {
		if md := tr.finish(); md != nil {
			// The host asked for the spans; failing to send them loses
			// only them.
			_ = grpc.SetTrailer(ctx, md)
		}
	}
	return out, nil
}

// call runs one call (see Local) and logs a panic with its stack.
func (s *server) call(ctx context.Context, c *wire.Call) *wire.Result {
	r := Local(ctx, s.b, Call{Point: c.Point, Identity: c.Identity, Request: c.Request,
		Timeout: time.Duration(c.TimeoutMicros) * time.Microsecond})
	if r.Outcome == Panic {
		s.log.Error("panic in an implementation", "point", c.Point, "value", r.Err, "stack", r.stack)
	}
	return &wire.Result{Outcome: wireOutcome[r.Outcome], Response: r.Response, Error: r.Err, TookMicros: r.Took.Microseconds()}
}

var wireOutcome = map[Outcome]wire.Outcome{OK: wire.Outcome_OUTCOME_OK, Skip: wire.Outcome_OUTCOME_SKIP,
	Error: wire.Outcome_OUTCOME_ERROR, Panic: wire.Outcome_OUTCOME_PANIC, Timeout: wire.Outcome_OUTCOME_TIMEOUT,
	UnknownPoint: wire.Outcome_OUTCOME_UNKNOWN_POINT}

// Local runs one call of b in this process exactly as a serving bizpack
// does: on its own goroutine under the call's deadline (1s when unset), an
// implementation that ignores its context abandoned at the deadline (its
// goroutine finishes on its own), a panic caught and reported as Panic.
// The harness's in-process runner uses it.
func Local(ctx context.Context, b *extensions.Bizpack, c Call) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- Result{Outcome: Panic, Err: fmt.Sprint(v), stack: string(debug.Stack())}
			}
		}()
		resp, err := b.InvokeJSON(ctx, c.Point, c.Request)
		var unknown *extensions.UnknownPointError
		switch {
		case err == nil:
			done <- Result{Outcome: OK, Response: resp}
		case errors.Is(err, extensions.ErrSkip):
			done <- Result{Outcome: Skip}
		case errors.As(err, &unknown):
			done <- Result{Outcome: UnknownPoint, Err: err.Error()}
		case errors.Is(err, context.DeadlineExceeded):
			done <- Result{Outcome: Timeout, Err: err.Error()}
		default:
			done <- Result{Outcome: Error, Err: err.Error()}
		}
	}()
	var r Result
	select {
	case r = <-done:
	case <-ctx.Done():
		r = Result{Outcome: Timeout, Err: fmt.Sprintf("%s: no answer within %s", c.Point, timeout)}
	}
	r.Took = time.Since(start)
	return r
}
