package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/tmf-platform/tmf/platform/tracing"
)

// tracingOptions are the OpenTelemetry settings: the --otlp-* and
// --trace-* flags (or TMF_<NAME>) win over the configuration file's
// "tracing" key, which wins over the standard OTEL_* variables, which win
// over the defaults. Tracing is off unless an endpoint is set.
type tracingOptions struct {
	Flags tracing.Config
	// Env is what OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER(_ARG)
	// and OTEL_SERVICE_NAME say.
	Env tracing.Config
	// BatchTimeout is how long a finished span may wait to be exported
	// (TMF_TRACE_BATCH_TIMEOUT; default 5s).
	BatchTimeout time.Duration
}

// tracingFlags registers the tracing flags on fs; the returned function
// checks them after fs.Parse.
func tracingFlags(fs *flag.FlagSet, getenv func(string) string, o *tracingOptions) func() error {
	str := func(p *string, name, env, usage string) { fs.StringVar(p, name, getenv("TMF_"+env), usage) }
	str(&o.Flags.OTLPEndpoint, "otlp-endpoint", "OTLP_ENDPOINT", "export traces by OTLP to this collector URL, e.g. http://collector:4317 (default: off)")
	str(&o.Flags.Protocol, "otlp-protocol", "OTLP_PROTOCOL", "OTLP protocol: grpc (default) or http")
	str(&o.Flags.Sampler, "trace-sampler", "TRACE_SAMPLER", "sampler: parentbased_traceidratio (default), traceidratio, always_on, always_off, parentbased_always_on, parentbased_always_off")
	str(&o.Flags.ServiceName, "trace-service-name", "TRACE_SERVICE_NAME", "service.name of the server's spans (default tmfd)")
	var ratio string
	str(&ratio, "trace-ratio", "TRACE_RATIO", "share of new traces sampled by the *traceidratio samplers, 0 to 1 (default 0.1)")
	batch := getenv("TMF_TRACE_BATCH_TIMEOUT")
	return func() error {
		if ratio != "" {
			r, err := strconv.ParseFloat(ratio, 64)
			if err != nil {
				return fmt.Errorf("--trace-ratio %q: want a number from 0 to 1", ratio)
			}
			o.Flags.Ratio = &r
		}
		if batch != "" {
			d, err := time.ParseDuration(batch)
			if err != nil || d <= 0 {
				return fmt.Errorf("TMF_TRACE_BATCH_TIMEOUT=%q: want a positive duration", batch)
			}
			o.BatchTimeout = d
		}
		env, err := tracing.FromEnv(getenv)
		if err != nil {
			return err
		}
		o.Env = env
		return o.Flags.Check()
	}
}

// effective is the configuration in force: flags over the file over the
// OTEL_* variables.
func (o tracingOptions) effective(file *tracing.Config) tracing.Config {
	cfg := o.Flags
	if file != nil {
		cfg = cfg.Over(*file)
	}
	return cfg.Over(o.Env)
}

// startTracing turns tracing on when the settings name an endpoint; the
// returned function flushes and stops it.
func startTracing(ctx context.Context, o tracingOptions, file *tracing.Config, log *slog.Logger) (func(), error) {
	cfg := o.effective(file)
	p, err := tracing.Start(ctx, cfg, tracing.Options{Version: serverVersion(), BatchTimeout: o.BatchTimeout})
	if err != nil {
		return nil, err
	}
	if p == nil {
		return func() {}, nil
	}
	ratio := tracing.DefaultRatio
	if cfg.Ratio != nil {
		ratio = *cfg.Ratio
	}
	log.Info("tracing: exporting spans by OTLP", "endpoint", cfg.OTLPEndpoint, "protocol", cmpStr(cfg.Protocol, tracing.DefaultProtocol),
		"sampler", cmpStr(cfg.Sampler, tracing.DefaultSampler), "ratio", ratio)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			log.Warn("tracing: flushing the last spans", "error", err)
		}
	}, nil
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// serverVersion is the module version tmfd was built from ("(devel)" for
// a build from a working tree).
func serverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
