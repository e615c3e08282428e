// Command tmfd is the TMF ordering server.
//
//	tmfd serve [--listen 127.0.0.1:8080] [--db DSN] [--config FILE] [--bizpack-dir DIR] [--admin-token TOKEN] [--demo]
//	           [--policy DIR|BUNDLE] [--jwt-issuer ISS --jwt-audience AUD (--jwt-hs256-secret-file F | --jwt-rs256-keys F)]
//	           [--idempotency-retention 24h] [--outbox-retention 168h] [--payment-call-timeout 10s]
//
// Every flag can also be set by an environment variable TMF_<NAME>
// (TMF_LISTEN, TMF_DB, TMF_CONFIG, TMF_ADMIN_TOKEN, TMF_DEMO, TMF_POLICY,
// TMF_JWT_ISSUER, …); a flag given on the command line wins. Without --db the server keeps its data in a SQLite
// file under ./data/, so it needs no other service.
package main

import (
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authn"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/metrics/series"
	"github.com/tmf-platform/tmf/platform/store"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// Not dumpable: a bizpack of the same user cannot read the server's
	// environment or memory through /proc.
	if err := bizpackhost.Harden(); err != nil {
		fmt.Fprintln(os.Stderr, "tmfd: warning: the server stays dumpable (its /proc environ and memory readable by its user):", err)
	}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tmfd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		opts, err := parseServe(args[1:], os.Getenv, stderr)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, opts, stdout, stderr)
	case "cdc":
		return cdcCommand(ctx, args[1:], stdout, stderr)
	case "readmodel":
		return readModelCommand(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

const usage = `usage: tmfd serve [flags]
       tmfd cdc [setup|drop] [flags]   change data capture of the orders (tmfd cdc --help)
       tmfd readmodel rebuild [flags]  rebuild the order read model (tmfd readmodel --help)
       tmfd readmodel verify [flags]   compare the read model with the order store, order by order

Starts the TMF ordering server. Flags (or environment variables TMF_<NAME>):
  --listen ADDR         address to listen on (default 127.0.0.1:8080)
  --db DSN              SQLite file (default ./data/tmf.db), postgres://… or mysql://…
  --pprof-listen ADDR   serve net/http/pprof on ADDR, admin token required (off by default)
  --config FILE         YAML or JSON file of identities, products, bindings and bizpacks. Its identities
                        seed an empty store (revision 1); after that the stored revisions, changed through
                        the admin API and console, are in force
  --bizpack-dir DIR     where uploaded bizpack binaries are kept (default ./data/bizpacks)
  --admin-token-file F  file holding the bearer token of the first administrator, at least 32 characters
                        (generated and printed once when absent). --admin-token TOKEN and TMF_ADMIN_TOKEN
                        also work, but a flag is readable by every local user (/proc/<pid>/cmdline): serve warns
  --db-file F           file holding the DSN, for a DSN with a password (TMF_DB works too; --db warns then)
  --demo                load a small demo catalogue, stock and buyers
  --policy PATH         Rego policy directory or bundle (.tar.gz); default: the shipped policy.
                        Reloaded when it changes; a policy that does not compile never replaces the one in force
  --jwt-issuer ISS      accept JWT bearer tokens from this issuer (with --jwt-audience and a key)
  --jwt-audience AUD    audience the JWTs must name
  --jwt-hs256-secret-file FILE   HS256 shared secret (at least 32 bytes)
  --jwt-rs256-keys FILE          PEM file of RS256 public keys or certificates (kid from a "kid:" PEM header)
  --jwt-max-lifetime DUR         longest validity (iat to exp) of a JWT accepted (default 24h)
  --fulfilment-suppliers FILE    JSON object of supplier callback secrets, {"name": "whsec_..."}: the
                                 suppliers that may call POST /v1/fulfilment/callbacks/{name}
  --idempotency-retention DUR    how long idempotency records are kept (default 24h; 0 keeps them)
  --outbox-retention DUR         how long delivered outbox events are kept (default 168h; 0 keeps them)
  --rate-principal N             requests a second one principal may send (default 50; admins are not limited;
                                 0 turns it off), in bursts of --rate-principal-burst (default 100)
  --rate-address N               requests a second without credentials per client address (default 20),
                                 in bursts of --rate-address-burst (default 40)
  --auth-failures N              failed authentications from one address within --auth-failure-window (default
                                 1m) before its failures are answered 429 for --auth-block (default 5m); default 20
  --max-unpaid-orders N          unpaid orders one buyer may hold (default 50; 409 unpaid_limit beyond)
  --max-unpaid-quantity N        quantity of one SKU one buyer's unpaid orders may hold (default 1000)
  --payment-call-timeout DUR     deadline of one card-processor call (default 10s). A payment attempt's lease,
                                 and how long an attempt left pending waits for its caller's retry before
                                 payment recovery settles it, are three times this
  --events URL                   publish every committed event to NATS JetStream (nats://127.0.0.1:4222), as
                                 CloudEvents on <prefix>.<type>.<bizCode>; see docs/events.md. Stream settings:
                                 --events-stream (TMF_EVENTS), --events-subject-prefix (tmf.events),
                                 --events-max-age (168h), --events-replicas (1), --events-duplicates (2m)
  --events-max-backlog-age DUR   /readyz fails while the oldest unrelayed event is older (default 0: never)
  --read-model-db DSN            postgres://… of the order read model (off by default; also readModel.db in the
                                 config file): back-office lists and searches, reads by id level by level; fed
                                 from the event stream, so it needs --events (docs/operations.md "Read model")
  --read-model-feed=false        use the read model without running its feed on this node (others feed it)
  --db-replica DSN               postgres://… of a read replica (hot standby) of --db; repeat or comma-separate
                                 (also TMF_DB_REPLICAS, replicas in the config file). Buyers' lists and reads by
                                 id go to a replica that has their own writes and lags at most --replica-max-lag
                                 (default 2s), else to --db (docs/operations.md "Read replicas")
  --stock-db DSN                 keep stock in a database of its own (also stock.db in the config file): orders
                                 reserve there first and confirm after they commit, a sweeper settles what a
                                 crash left (docs/operations.md "Stock in its own database")
  --stock-reservation-expiry DUR how long such a reservation waits for its order (default 2m; stock.reservationExpiry)
  --outbox-lease DUR             one relay per database holds the outbox lease; another takes over this long
                                 after it died (default 10s)
  --webhooks-allow-private       let webhook endpoints reach loopback, private and link-local addresses (tests only)
  --webhooks-schedule LIST       waits before each webhook retry (default 5s,5m,30m,2h,5h,10h,10h: ~27.6h, then failed)
  --webhooks-timeout DUR         deadline of one webhook attempt (default 10s); --webhooks-concurrency N per endpoint (4)
  --webhooks-disable-after DUR   an endpoint failing this long without a success is disabled (default 120h)
  --webhooks-rotation-grace DUR  how long a rotated-out secret keeps signing (default 24h);
                                 --webhooks-max-endpoints N (default 100)`

// serveOptions are the settings of tmfd serve.
type serveOptions struct {
	// Tracing: OpenTelemetry (tracing.go).
	Tracing tracingOptions
	Listen  string
	DB      string
	// PprofListen, when set, serves net/http/pprof to admins on a
	// listener of its own (pprof.go).
	PprofListen string
	Config      string
	AdminToken  string
	Demo        bool
	// BizpackDir keeps uploaded bizpack binaries.
	BizpackDir string
	// Policy is the Rego policy's directory or bundle; "" = the shipped one.
	Policy string
	// JWT settings; JWTs are accepted only when Issuer is set.
	JWTIssuer, JWTAudience, JWTSecretFile, JWTKeysFile string
	// JWTMaxLifetime is the longest validity (iat to exp) of a JWT accepted.
	JWTMaxLifetime time.Duration
	// IdempotencyRetention and OutboxRetention: how long idempotency
	// records and delivered outbox events are kept; 0 keeps them.
	IdempotencyRetention, OutboxRetention time.Duration
	// ReconcileInterval between scheduled reconciliation runs; 0: only on demand.
	ReconcileInterval time.Duration
	// FulfilmentSuppliersFile holds the callback secrets of the suppliers
	// (supplier fulfilment): a JSON object of name → "whsec_…".
	FulfilmentSuppliersFile string
	// PaymentCallTimeout bounds one card-processor call; the lease of a
	// payment attempt and the grace before recovery settles an attempt
	// left pending are three times it.
	PaymentCallTimeout time.Duration
	// RateLimits of the API: per principal, per address without
	// credentials, and of failed authentications per address.
	RateLimits api.RateLimits
	// MaxUnpaidOrders and MaxUnpaidQuantity cap what one buyer holds
	// unpaid (api.Limits); negative: no cap.
	MaxUnpaidOrders, MaxUnpaidQuantity int
	// CommandLineSecrets names the flags that carried a secret on the
	// command line (readable by every local user in /proc/<pid>/cmdline),
	// comma-separated; serve warns about each.
	CommandLineSecrets string
	// Events: --events and the outbox relay's settings (events.go).
	Events eventsOptions
	// ReadModelDB is the order read model's database (readmodel.go); "" takes
	// the configuration file's readModel.db, and none means no read model.
	ReadModelDB string
	// ReadModelNoFeed: this node reads the read model but does not feed
	// it (--read-model-feed=false).
	ReadModelNoFeed bool
	// Replicas: --db-replica and --replica-max-lag (replicas.go).
	Replicas replicaOptions
	// StockDB is the stock database (stockdb.go); "" takes the
	// configuration file's stock.db, and none keeps stock beside the
	// orders. StockExpiry is its reservations' expiry (0: the file's, else
	// stockcenter.DefaultExpiry).
	StockDB     string
	StockExpiry time.Duration
	// stockStore is the store stock lives in, set by serve once wired.
	stockStore *store.Store
	// Webhooks: the --webhooks-* settings (webhooks.go).
	Webhooks webhookOptions
	// DashboardStep is the sampling step of the dashboard's series
	// (series.DefaultStep when 0).
	DashboardStep time.Duration
	// registry, when set (by tests), is the metrics registry the server
	// registers with; nil makes a new one.
	registry *metricsRegistry
	// Sandbox holds the bizpack sandbox settings given by flags or
	// TMF_BIZPACK_* variables; they override the file's sandbox section.
	Sandbox sandboxConfig
	// PaymentRule programs a failure of the built-in sandbox acquirer
	// (tests only: no flag sets it), e.g. a first refund declined. A
	// pointer keeps serveOptions comparable.
	PaymentRule *payment.Rule
}

// MinAdminToken is the shortest --admin-token accepted: a bearer token
// must not be guessable.
const MinAdminToken = 32

// readSecret reads a secret from a file: its content without the trailing
// line break an editor adds.
func readSecret(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return v, nil
}

// dsnHasPassword reports whether a database DSN carries a password.
func dsnHasPassword(dsn string) bool {
	if strings.Contains(strings.ToLower(dsn), "password=") {
		return true
	}
	_, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return false
	}
	user, _, ok := strings.Cut(rest, "@")
	return ok && strings.Contains(user, ":")
}

// parseServe reads flags, falling back to TMF_<NAME> environment variables.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveOptions, error) {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv("TMF_" + name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&o.Listen, "listen", env("LISTEN", "127.0.0.1:8080"), "address to listen on")
	fs.StringVar(&o.DB, "db", env("DB", ""), "database DSN (default: SQLite file ./data/tmf.db)")
	fs.StringVar(&o.PprofListen, "pprof-listen", env("PPROF_LISTEN", ""), "serve net/http/pprof to admins on this address (off by default; never the public one)")
	fs.StringVar(&o.Config, "config", env("CONFIG", ""), "configuration file (YAML or JSON)")
	fs.StringVar(&o.BizpackDir, "bizpack-dir", env("BIZPACK_DIR", filepath.Join("data", "bizpacks")), "directory of uploaded bizpack binaries")
	fs.StringVar(&o.AdminToken, "admin-token", env("ADMIN_TOKEN", ""), "bootstrap administrator token (prefer --admin-token-file)")
	var adminTokenFile, dbFile string
	fs.StringVar(&adminTokenFile, "admin-token-file", env("ADMIN_TOKEN_FILE", ""), "file holding the bootstrap administrator token")
	fs.StringVar(&dbFile, "db-file", env("DB_FILE", ""), "file holding the database DSN (with its password)")
	fs.StringVar(&o.Policy, "policy", env("POLICY", ""), "Rego policy directory or bundle (default: the shipped policy)")
	fs.StringVar(&o.ReadModelDB, "read-model-db", env("READ_MODEL_DB", ""), "postgres:// DSN of the order read model (default: none)")
	fs.StringVar(&o.StockDB, "stock-db", env("STOCK_DB", ""), "DSN of a database of its own for stock (default: stock beside the orders)")
	fs.StringVar(&o.JWTIssuer, "jwt-issuer", env("JWT_ISSUER", ""), "accept JWTs from this issuer")
	fs.StringVar(&o.JWTAudience, "jwt-audience", env("JWT_AUDIENCE", ""), "audience JWTs must name")
	fs.StringVar(&o.JWTSecretFile, "jwt-hs256-secret-file", env("JWT_HS256_SECRET_FILE", ""), "HS256 secret file")
	fs.StringVar(&o.JWTKeysFile, "jwt-rs256-keys", env("JWT_RS256_KEYS", ""), "PEM file of RS256 public keys")
	fs.StringVar(&o.FulfilmentSuppliersFile, "fulfilment-suppliers", env("FULFILMENT_SUPPLIERS", ""),
		"JSON file of supplier callback secrets, {\"name\": \"whsec_...\"} (supplier fulfilment)")
	for _, d := range []struct {
		p          *time.Duration
		flag, name string
		def        time.Duration
		usage      string
	}{
		{&o.IdempotencyRetention, "idempotency-retention", "IDEMPOTENCY_RETENTION", DefaultIdempotencyRetention, "how long idempotency records are kept (0 keeps them)"},
		{&o.OutboxRetention, "outbox-retention", "OUTBOX_RETENTION", DefaultOutboxRetention, "how long delivered outbox events are kept (0 keeps them)"},
		{&o.ReconcileInterval, "reconcile-interval", "RECONCILE_INTERVAL", DefaultReconcileInterval, "interval between scheduled reconciliation runs (0: only on demand)"},
		{&o.PaymentCallTimeout, "payment-call-timeout", "PAYMENT_CALL_TIMEOUT", payment.DefaultCallTimeout, "deadline of one card-processor call"},
		{&o.DashboardStep, "dashboard-step", "DASHBOARD_STEP", series.DefaultStep, "sampling step of the console dashboard's series (at least 1s; the rings keep 360 samples at it and 1440 at 6 times it)"},
		{&o.StockExpiry, "stock-reservation-expiry", "STOCK_RESERVATION_EXPIRY", 0, "with --stock-db: how long a reservation waits for its order before the sweeper settles it (default 2m)"},
		{&o.JWTMaxLifetime, "jwt-max-lifetime", "JWT_MAX_LIFETIME", authn.DefaultMaxLifetime, "longest validity (iat to exp) of a JWT accepted"},
		{&o.RateLimits.AuthFailureWindow, "auth-failure-window", "AUTH_FAILURE_WINDOW", api.DefaultRateLimits.AuthFailureWindow, "window in which --auth-failures failed authentications block an address"},
		{&o.RateLimits.AuthBlock, "auth-block", "AUTH_BLOCK", api.DefaultRateLimits.AuthBlock, "how long an address that failed authentication too often is answered 429"},
	} {
		def := d.def
		if v := getenv("TMF_" + d.name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed < 0 {
				return o, fmt.Errorf("TMF_%s=%q: want a duration such as 24h", d.name, v)
			}
			def = parsed
		}
		fs.DurationVar(d.p, d.flag, def, d.usage)
	}
	for _, n := range []struct {
		flag, name string
		rate       *float64
		count      *int
		def        float64
		usage      string
	}{
		{"rate-principal", "RATE_PRINCIPAL", &o.RateLimits.PrincipalRate, nil, api.DefaultRateLimits.PrincipalRate, "requests a second per principal, admins aside (0: no limit)"},
		{"rate-principal-burst", "RATE_PRINCIPAL_BURST", nil, &o.RateLimits.PrincipalBurst, float64(api.DefaultRateLimits.PrincipalBurst), "burst of requests per principal"},
		{"rate-address", "RATE_ADDRESS", &o.RateLimits.AddressRate, nil, api.DefaultRateLimits.AddressRate, "requests a second without credentials per client address (0: no limit)"},
		{"rate-address-burst", "RATE_ADDRESS_BURST", nil, &o.RateLimits.AddressBurst, float64(api.DefaultRateLimits.AddressBurst), "burst of requests without credentials per address"},
		{"max-unpaid-orders", "MAX_UNPAID_ORDERS", nil, &o.MaxUnpaidOrders, float64(api.DefaultLimits.MaxUnpaidOrders), "unpaid orders one buyer may hold"},
		{"max-unpaid-quantity", "MAX_UNPAID_QUANTITY", nil, &o.MaxUnpaidQuantity, float64(api.DefaultLimits.MaxUnpaidQuantity), "quantity of one SKU one buyer's unpaid orders may hold"},
		{"auth-failures", "AUTH_FAILURES", nil, &o.RateLimits.AuthFailures, float64(api.DefaultRateLimits.AuthFailures), "failed authentications per address and window before 429s (0: no limit)"},
	} {
		def := n.def
		if v := getenv("TMF_" + n.name); v != "" {
			parsed, err := strconv.ParseFloat(v, 64)
			if err != nil || parsed < 0 || n.count != nil && parsed != math.Trunc(parsed) {
				return o, fmt.Errorf("TMF_%s=%q: want a number that is not negative", n.name, v)
			}
			def = parsed
		}
		if n.rate != nil {
			fs.Float64Var(n.rate, n.flag, def, n.usage)
		} else {
			fs.IntVar(n.count, n.flag, int(def), n.usage)
		}
	}
	demo := env("DEMO", "")
	switch strings.ToLower(demo) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		o.Demo = true
	default:
		return o, fmt.Errorf("TMF_DEMO=%q: use true or false", demo)
	}
	fs.BoolVar(&o.Demo, "demo", o.Demo, "load demo data")
	checkEvents := eventFlags(fs, getenv, &o.Events)
	checkReadModel := readModelFlags(fs, getenv, &o)
	checkReplicas := replicaFlags(fs, getenv, &o.Replicas)
	checkWebhooks := webhookFlags(fs, getenv, &o.Webhooks)
	sandbox := sandboxFlags(fs, getenv)
	checkTracing := tracingFlags(fs, getenv, &o.Tracing)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := checkTracing(); err != nil {
		return o, err
	}
	var err error
	if o.Sandbox, err = sandbox(); err != nil {
		return o, err
	}
	if err := checkWebhooks(); err != nil {
		return o, err
	}
	if err := checkEvents(); err != nil {
		return o, err
	}
	if err := checkReadModel(); err != nil {
		return o, err
	}
	if err := checkReplicas(); err != nil {
		return o, err
	}
	if o.IdempotencyRetention < 0 || o.OutboxRetention < 0 {
		return o, errors.New("a retention cannot be negative")
	}
	if o.DashboardStep < time.Second {
		return o, errors.New("--dashboard-step must be at least 1s")
	}
	if o.ReconcileInterval < 0 {
		return o, errors.New("--reconcile-interval cannot be negative")
	}
	if o.MaxUnpaidOrders < 1 || o.MaxUnpaidQuantity < 1 {
		return o, errors.New("--max-unpaid-orders and --max-unpaid-quantity must be at least 1")
	}
	if l := o.RateLimits; l.PrincipalRate < 0 || l.PrincipalBurst < 0 || l.AddressRate < 0 || l.AddressBurst < 0 || l.AuthFailures < 0 ||
		l.AuthFailureWindow < 0 || l.AuthBlock < 0 {
		return o, errors.New("rate limits cannot be negative")
	}
	if o.PaymentCallTimeout <= 0 {
		return o, errors.New("--payment-call-timeout must be positive")
	}
	if fs.NArg() > 0 {
		return o, errors.New("serve takes no arguments: " + strings.Join(fs.Args(), " "))
	}
	var onCommandLine []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "admin-token" || f.Name == "db" && dsnHasPassword(o.DB) || f.Name == "read-model-db" && dsnHasPassword(o.ReadModelDB) ||
			f.Name == "stock-db" && dsnHasPassword(o.StockDB) {
			onCommandLine = append(onCommandLine, f.Name)
		}
	})
	o.CommandLineSecrets = strings.Join(onCommandLine, ",")
	for _, sf := range []struct {
		flag, file string
		into       *string
	}{{"admin-token-file", adminTokenFile, &o.AdminToken}, {"db-file", dbFile, &o.DB}} {
		if sf.file == "" {
			continue
		}
		v, err := readSecret(sf.flag, sf.file)
		if err != nil {
			return o, err
		}
		*sf.into = v
	}
	if o.AdminToken != "" && len(o.AdminToken) < MinAdminToken {
		return o, fmt.Errorf("the administrator token must be at least %d characters (generate one: head -c 32 /dev/urandom | base64)", MinAdminToken)
	}
	return o, nil
}
