package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/configs"
	"github.com/tmf-platform/tmf/platform/console"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/metrics"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/recovery"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/timeouts"
)

// shutdownGrace is how long in-flight requests get to finish on shutdown.
const shutdownGrace = 30 * time.Second

// serve runs the server until ctx is done, then shuts down gracefully:
// the listener closes, in-flight requests finish, background loops stop,
// and the store closes last.
func serve(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if o.AdminToken != "" && len(o.AdminToken) < MinAdminToken {
		return fmt.Errorf("the administrator token must be at least %d characters", MinAdminToken)
	}
	for f := range strings.SplitSeq(o.CommandLineSecrets, ",") {
		if f != "" {
			log.Warn("a secret is given on the command line, where every local user can read it (/proc/<pid>/cmdline); use the environment or a file instead",
				"flag", "--"+f)
		}
	}

	st, err := store.Open(ctx, o.DB)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	file, err := loadFile(o.Config)
	if err != nil {
		return err
	}
	if file.Tracing != nil {
		if err := file.Tracing.Check(); err != nil {
			return fmt.Errorf("config %s: %w", describe(o.Config), err)
		}
	}
	stopTracing, err := startTracing(ctx, o.Tracing, file.Tracing, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg := file.Config
	reg := o.registry
	if reg == nil {
		reg = newMetricsRegistry()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	book := promotion.NewBook(nil)
	if err := book.Load(ctx, st.DB(ctx)); err != nil {
		return fmt.Errorf("load promotions: %w", err)
	}
	k, err := catalog.NewKernelWith(catalog.Sources{Promotions: book}, kernel.WithRegisterer(reg))
	if err != nil {
		return err
	}
	// Bizpacks: those marked boot start now, those the configuration binds
	// start before it is applied; all stop with the server (and die with
	// it if it crashes).
	runDir := "" // no upload directory: checked copies in a temporary directory, no group records
	if o.BizpackDir != "" {
		runDir = filepath.Join(o.BizpackDir, ".run")
	}
	hostOpts, err := sandboxOptions(file.Sandbox, o.Sandbox, log)
	if err != nil {
		return err
	}
	hostOpts.Logger, hostOpts.RunDir = log, runDir
	hostOpts.Interpreters, hostOpts.OnStatus = file.BizpackInterpreters, bizpackStatusEvents(st, log)
	host := bizpackhost.New(k, hostOpts)
	defer host.Close()
	if err := host.Configure(ctx, file.Bizpacks); err != nil {
		return fmt.Errorf("bizpacks: %w", err)
	}
	// The stored configuration revision is in force; an empty store is
	// seeded from the file (or the built-in default).
	source := configs.New(st, k, host.Ensure, log)
	inForce, err := source.Boot(ctx, cfg)
	if err != nil {
		return fmt.Errorf("config %s: %w", describe(o.Config), err)
	}
	if inForce.Revision > 1 && o.Config != "" {
		log.Warn("the configuration file's identities are not used: the store holds a newer revision; change identities through the admin API or console",
			"file", o.Config, "revision", inForce.Revision)
	}

	if err := bootstrapAdmin(ctx, st, o.AdminToken, stdout); err != nil {
		return err
	}
	sw, err := wireStock(ctx, st, o, file.Stock, reg, log)
	if err != nil {
		return fmt.Errorf("stock database: %w", err)
	}
	defer sw.close()
	o.stockStore = sw.db(st)
	if o.Demo {
		if err := loadDemo(ctx, st, o.stockStore, stdout); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
	}

	policy, err := authz.New(ctx, authz.Options{Source: o.Policy, Logger: log})
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	verifier, err := jwtVerifier(o)
	if err != nil {
		return err
	}

	pays := payments(st.DB(ctx), o.PaymentCallTimeout, o.PaymentRule, reg, log)
	svc := order.NewService(k, st, append(sw.orderOptions(), order.WithPromotions(book), order.WithPayments(pays))...)
	ev, err := wireEvents(st, o.Events.merge(file.Events), reg, log)
	if err != nil {
		return err
	}
	defer ev.close()
	relay := ev.relay
	relay.Subscribe("log", "", func(_ context.Context, e outbox.Event) error {
		log.Debug("event", "id", e.ID, "topic", e.Topic, "order", e.AggregateID)
		return nil
	})
	hooks, err := newWebhooks(ctx, st, k, o.Webhooks, reg, log)
	if err != nil {
		return err
	}
	relay.Subscribe("webhooks", "", hooks.Handle)
	business, err := metrics.NewBusiness(reg)
	if err != nil {
		return err
	}
	relay.Subscribe("metrics", "", business.Handle)
	if err := host.RegisterMetrics(reg); err != nil {
		return err
	}
	dashboard, err := newDashboard(reg, o.stockStore, o.DashboardStep, log)
	if err != nil {
		return err
	}
	center := timeouts.New(svc, st, timeouts.Options{Logger: log})
	payRecovery := recovery.New(svc, recovery.Options{Logger: log})

	rec, err := reconciler(ctx, st, o, reg, log)
	if err != nil {
		return err
	}
	rm, err := wireReadModel(ctx, st, readModelDSN(o.ReadModelDB, file.ReadModel), o.ReadModelNoFeed, o.Events.merge(file.Events), reg, log)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	defer rm.close()
	fulfil, err := fulfiller(svc, k, st, o, reg, log)
	if err != nil {
		return err
	}
	replicas, err := openReplicas(ctx, st, o.Replicas, file.Replicas, reg, log)
	if err != nil {
		return err
	}
	if replicas != nil {
		defer replicas.Close()
	}
	server := api.New(api.Config{Service: svc, Reconciler: rec, Fulfilment: fulfil, Store: st, Stock: o.stockStore, Kernel: k, Promotions: book, Bizpacks: host, Configs: source,
		BizpackUploads: o.BizpackDir, Policy: policy, JWT: verifier, Logger: log, Gatherer: reg, Registerer: reg, RateLimits: o.RateLimits,
		Limits: api.Limits{MaxUnpaidOrders: int64(o.MaxUnpaidOrders), MaxUnpaidQuantity: int64(o.MaxUnpaidQuantity)},
		// Ready: the default, a committed write of this node's probe row
		// (a ping answers while the database refuses writes).
		Node: api.DefaultNode() + "/" + o.Listen, ReadyChecks: []func(context.Context) error{ev.backlog.ReadyCheck(o.Events.merge(file.Events).MaxBacklogAge)}, Webhooks: hooks,
		ReadSide: rm.side, Dashboard: dashboard, Replicas: replicas})
	// The admin console is static files at /admin that call the API like
	// any other client.
	mux := http.NewServeMux()
	mux.Handle("/admin", console.Handler())
	mux.Handle("/admin/", console.Handler())
	mux.Handle("/", server.Handler())
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(stdout, "tmfd listening on http://%s (store: %s)\n", ln.Addr(), st.Dialect())
	stopPprof, err := servePprof(cmp.Or(o.PprofListen, file.PprofListen), o.Listen, server, stdout, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopPprof()

	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	ev.run(loops, wg.Go)
	rm.run(loops, wg.Go)
	wg.Go(func() { hooks.Run(loops) })
	wg.Go(func() { dashboard.Run(loops) })
	wg.Go(func() { center.Run(loops) })
	wg.Go(func() { payRecovery.Run(loops) })
	wg.Go(func() { sw.run(loops) })
	wg.Go(func() { fulfil.Run(loops) })
	if replicas != nil {
		wg.Go(func() { replicas.Run(loops) })
	}
	wg.Go(func() { reconcileLoop(loops, rec, o) })
	wg.Go(func() { refreshPromotions(loops, book, st, log) })
	wg.Go(func() { policy.Watch(loops, PolicyPoll) })
	wg.Go(func() { source.Follow(loops, ConfigPoll) })
	wg.Go(func() {
		purge(loops, st, store.Retention{Idempotency: o.IdempotencyRetention, Outbox: o.OutboxRetention}, RetentionSweep, log)
	})

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight requests")
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		err = httpServer.Shutdown(shutdownCtx)
		cancel()
	}
	stopLoops()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// PolicyPoll is how often a policy directory or bundle is checked for
// changes; a change that compiles replaces the policy in force.
const PolicyPoll = 2 * time.Second

// ConfigPoll is how often the server looks for configuration revisions
// saved by other servers on the same database.
const ConfigPoll = 2 * time.Second

// PromotionRefresh is how often the promotion book looks for changes made
// by other processes (admin writes in this one refresh it at once).
const PromotionRefresh = time.Second

// Retention defaults: a client retries an order within hours, not days;
// an event consumer that fell a week behind replays from its broker.
const (
	DefaultIdempotencyRetention = 24 * time.Hour
	DefaultOutboxRetention      = 7 * 24 * time.Hour
)

// RetentionSweep is how often the server deletes what its retention
// allows (each sweep works in small batches; every node sweeps, and two
// sweeps at once only find less to delete).
const RetentionSweep = 5 * time.Minute

// purge deletes expired idempotency records and delivered events at once
// and then every period, until ctx ends.
func purge(ctx context.Context, st *store.Store, r store.Retention, period time.Duration, log *slog.Logger) {
	if r.Idempotency <= 0 && r.Outbox <= 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		n, err := st.Purge(ctx, r)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention: purge", "error", err, "idempotencyRecords", n.Idempotency, "events", n.Events)
		case n != (store.Purged{}):
			log.Info("retention: purged", "idempotencyRecords", n.Idempotency, "events", n.Events)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshPromotions keeps the promotion book current until ctx ends.
func refreshPromotions(ctx context.Context, book *promotion.Book, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(PromotionRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := book.Refresh(ctx, st.DB(ctx)); err != nil && ctx.Err() == nil {
				log.Warn("refresh promotions", "error", err)
			}
		}
	}
}

// payments is the card payments service over the built-in sandbox
// acquirer (its state in the database, shared by every server on it),
// with a metric and an error log for every refund the processor refuses
// for good.
func payments(db *gorm.DB, callTimeout time.Duration, rule *payment.Rule, reg prometheus.Registerer, log *slog.Logger) *payment.Payments {
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_payment_refunds_failed_total",
		Help: "Card refunds the processor refused for good; each waits for an operator (GET /v1/admin/payments/refunds/failed)."})
	reg.MustRegister(failed)
	sandbox := payment.NewSandbox(db)
	if rule != nil {
		sandbox.AddRule(*rule)
	}
	pays := payment.NewPayments(sandbox, nil)
	pays.CallTimeout, pays.Lease, pays.RetryAfter = callTimeout, 3*callTimeout, 3*callTimeout
	pays.OnRefundFailed = func(p payment.Payment) {
		failed.Inc()
		log.Error("refund refused by the processor: an operator must retry it", "payment", p.ID, "order", p.OrderID,
			"amount", p.Amount, "currency", p.Currency)
	}
	return pays
}

// AdminID is the principal the bootstrap token belongs to.
const AdminID = "admin"

// bootstrapAdmin makes sure the first administrator exists. With a token it
// is (re)bound to that token; without one, a token is generated and printed
// once when the administrator does not exist yet.
func bootstrapAdmin(ctx context.Context, st *store.Store, token string, stdout io.Writer) error {
	_, err := st.GetPrincipal(ctx, AdminID)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if token == "" {
		if exists {
			// A restart is where a new user looks for the token again.
			fmt.Fprintln(stdout, "administrator exists: its token was shown once, at the first start; "+
				"to set a new one, restart with --admin-token-file FILE (at least 32 characters) or TMF_ADMIN_TOKEN")
			return nil
		}
		if token, err = api.NewToken(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "administrator token (shown once, keep it): %s\n", token)
	}
	return st.PutPrincipal(ctx, store.Principal{ID: AdminID, Roles: "admin", TokenHash: api.TokenHash(token)})
}
