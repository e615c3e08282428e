package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
)

// servePprof serves the server's profiles (api.Server.ProfilingHandler:
// admins only) on addr, a listener of its own; "" serves nothing. It
// refuses the public listen address. stop closes the listener.
func servePprof(addr, public string, server *api.Server, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if addr == public {
		return nil, fmt.Errorf("--pprof-listen %s is the public listen address: give profiles a listener of their own", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen: %w", err)
	}
	// A CPU profile or trace runs for its ?seconds= (30 s by default): the
	// write deadline leaves room for it.
	srv := &http.Server{Handler: server.ProfilingHandler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(stdout, "tmfd profiles (admin token required) on http://%s/debug/pprof/\n", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener", "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
