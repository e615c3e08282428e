package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// webhookOptions are the webhook settings of tmfd serve.
type webhookOptions struct {
	// AllowPrivate lets endpoints reach loopback, private and link-local
	// addresses (tests, receivers on a private network).
	AllowPrivate bool
	// Schedule is the wait before each retry: comma-separated durations,
	// checked by the parser.
	Schedule string
	// Timeout of one attempt; Concurrency per endpoint and process.
	Timeout     time.Duration
	Concurrency int
	// DisableAfter: an endpoint failing this long is disabled.
	DisableAfter time.Duration
	// RotationGrace: how long a rotated-out secret keeps signing.
	RotationGrace time.Duration
	MaxEndpoints  int
}

// webhookFlags adds the --webhooks-* flags (TMF_WEBHOOKS_* variables) to
// fs; the returned function checks them after fs.Parse.
func webhookFlags(fs *flag.FlagSet, getenv func(string) string, o *webhookOptions) (check func() error) {
	var envErr error
	env := func(name, def string) string {
		if v := getenv("TMF_" + name); v != "" {
			return v
		}
		return def
	}
	dur := func(p *time.Duration, flagName, envName string, def time.Duration, usage string) {
		if v := getenv("TMF_" + envName); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				envErr = errors.Join(envErr, fmt.Errorf("TMF_%s=%q: want a positive duration", envName, v))
			} else {
				def = d
			}
		}
		fs.DurationVar(p, flagName, def, usage)
	}
	num := func(p *int, flagName, envName string, def int, usage string) {
		if v := getenv("TMF_" + envName); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				envErr = errors.Join(envErr, fmt.Errorf("TMF_%s=%q: want a positive integer", envName, v))
			} else {
				def = n
			}
		}
		fs.IntVar(p, flagName, def, usage)
	}
	allow := strings.ToLower(env("WEBHOOKS_ALLOW_PRIVATE", ""))
	switch allow {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		o.AllowPrivate = true
	default:
		envErr = errors.Join(envErr, fmt.Errorf("TMF_WEBHOOKS_ALLOW_PRIVATE=%q: use true or false", allow))
	}
	fs.BoolVar(&o.AllowPrivate, "webhooks-allow-private", o.AllowPrivate,
		"let webhook endpoints reach loopback, private and link-local addresses (tests, private networks)")
	fs.StringVar(&o.Schedule, "webhooks-schedule", env("WEBHOOKS_SCHEDULE", formatSchedule(webhooks.DefaultSchedule)),
		"comma-separated waits before each webhook retry")
	dur(&o.Timeout, "webhooks-timeout", "WEBHOOKS_TIMEOUT", webhooks.DefaultTimeout, "deadline of one webhook attempt")
	num(&o.Concurrency, "webhooks-concurrency", "WEBHOOKS_CONCURRENCY", webhooks.DefaultConcurrency, "webhook attempts in flight per endpoint")
	dur(&o.DisableAfter, "webhooks-disable-after", "WEBHOOKS_DISABLE_AFTER", webhooks.DefaultDisableAfter,
		"an endpoint whose attempts all failed this long is disabled")
	dur(&o.RotationGrace, "webhooks-rotation-grace", "WEBHOOKS_ROTATION_GRACE", webhooks.DefaultRotationGrace,
		"how long a rotated-out webhook secret keeps signing")
	num(&o.MaxEndpoints, "webhooks-max-endpoints", "WEBHOOKS_MAX_ENDPOINTS", webhooks.DefaultMaxEndpoints, "webhook endpoints that may be registered")
	return func() error {
		if envErr != nil {
			return envErr
		}
		if _, err := parseSchedule(o.Schedule); err != nil {
			return err
		}
		if o.Timeout <= 0 || o.DisableAfter <= 0 || o.RotationGrace <= 0 || o.Concurrency < 1 || o.MaxEndpoints < 1 {
			return errors.New("--webhooks-timeout, -disable-after, -rotation-grace, -concurrency and -max-endpoints must be positive")
		}
		return nil
	}
}

// defaultWebhookOptions are the settings without flags or variables.
func defaultWebhookOptions() webhookOptions {
	return webhookOptions{Schedule: formatSchedule(webhooks.DefaultSchedule), Timeout: webhooks.DefaultTimeout,
		Concurrency: webhooks.DefaultConcurrency, DisableAfter: webhooks.DefaultDisableAfter, RotationGrace: webhooks.DefaultRotationGrace,
		MaxEndpoints: webhooks.DefaultMaxEndpoints}
}

func formatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// parseSchedule reads "5s,5m,30m": at least one positive duration.
func parseSchedule(v string) ([]time.Duration, error) {
	var out []time.Duration
	for p := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--webhooks-schedule %q: want comma-separated positive durations such as 5s,5m,30m", v)
		}
		out = append(out, d)
	}
	return out, nil
}

// newWebhooks is the server's webhook service: its tables migrated, the
// identities of the configuration in force, the metrics registered. Zero
// fields of o take the webhooks package's defaults.
func newWebhooks(ctx context.Context, st *store.Store, k *kernel.Kernel, o webhookOptions, reg prometheus.Registerer, log *slog.Logger) (*webhooks.Service, error) {
	var schedule []time.Duration // zero options (tests) take the package's defaults
	if o.Schedule != "" {
		var err error
		if schedule, err = parseSchedule(o.Schedule); err != nil {
			return nil, err
		}
	}
	if o.AllowPrivate {
		log.Warn("webhooks may reach loopback, private and link-local addresses (--webhooks-allow-private)")
	}
	svc := webhooks.New(st, webhooks.Options{Guard: webhooks.Guard{AllowPrivate: o.AllowPrivate}, Schedule: schedule,
		Timeout: o.Timeout, Concurrency: o.Concurrency, DisableAfter: o.DisableAfter, RotationGrace: o.RotationGrace,
		MaxEndpoints: o.MaxEndpoints, Logger: log, Registerer: reg,
		Identities: func() []string {
			var out []string
			for _, c := range k.Plans().Identities() {
				out = append(out, string(c))
			}
			return out
		}})
	if err := svc.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: migrate: %w", err)
	}
	return svc, nil
}
