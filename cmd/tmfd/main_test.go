package main

import (
	"github.com/tmf-platform/tmf/domains/payment"

	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authn"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/metrics/series"
	"github.com/tmf-platform/tmf/platform/replica"
)

func TestParseServeFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	uploads := filepath.Join("data", "bizpacks")
	// kept gives o the default retentions.
	kept := func(o serveOptions) serveOptions {
		o.IdempotencyRetention, o.OutboxRetention = DefaultIdempotencyRetention, DefaultOutboxRetention
		if o.PaymentCallTimeout == 0 {
			o.PaymentCallTimeout = payment.DefaultCallTimeout
		}
		return o
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want serveOptions
		err  string
	}{
		{"defaults", nil, nil, kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads}), ""},
		{"environment", nil, map[string]string{"TMF_LISTEN": ":9000", "TMF_DB": "postgres://x", "TMF_DEMO": "true",
			"TMF_ADMIN_TOKEN": testAdminToken, "TMF_CONFIG": "c.yaml"},
			kept(serveOptions{Listen: ":9000", DB: "postgres://x", Demo: true, AdminToken: testAdminToken, Config: "c.yaml", BizpackDir: uploads}), ""},
		{"secrets on the command line", []string{"--admin-token", testAdminToken, "--db", "postgres://tmf:pw@db/tmf"}, nil,
			kept(serveOptions{Listen: "127.0.0.1:8080", DB: "postgres://tmf:pw@db/tmf", AdminToken: testAdminToken, BizpackDir: uploads,
				CommandLineSecrets: "admin-token,db"}), ""},
		{"read model", []string{"--read-model-db", "postgres://rm:pw@rm/tmf_rm"}, map[string]string{"TMF_READ_MODEL_DB": "postgres://other"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, ReadModelDB: "postgres://rm:pw@rm/tmf_rm", CommandLineSecrets: "read-model-db"}), ""},
		{"read model from the environment", nil, map[string]string{"TMF_READ_MODEL_DB": "postgres://rm/tmf_rm"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, ReadModelDB: "postgres://rm/tmf_rm"}), ""},
		{"a node that only reads the read model", []string{"--read-model-feed=false"}, map[string]string{"TMF_READ_MODEL_FEED": "true"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, ReadModelNoFeed: true}), ""},
		{"no feed from the environment", nil, map[string]string{"TMF_READ_MODEL_FEED": "false"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, ReadModelNoFeed: true}), ""},
		{"a bad feed variable", nil, map[string]string{"TMF_READ_MODEL_FEED": "maybe"}, serveOptions{}, "TMF_READ_MODEL_FEED"},
		{"stock database", []string{"--stock-db", "postgres://st:pw@st/tmf_stock", "--stock-reservation-expiry", "90s"},
			map[string]string{"TMF_STOCK_DB": "postgres://other"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, StockDB: "postgres://st:pw@st/tmf_stock", StockExpiry: 90 * time.Second,
				CommandLineSecrets: "stock-db"}), ""},
		{"stock database from the environment", nil, map[string]string{"TMF_STOCK_DB": "postgres://st/tmf_stock", "TMF_STOCK_RESERVATION_EXPIRY": "5m"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, StockDB: "postgres://st/tmf_stock", StockExpiry: 5 * time.Minute}), ""},
		{"a DSN without a password is no secret", []string{"--db", "postgres://tmf@db/tmf"}, nil,
			kept(serveOptions{Listen: "127.0.0.1:8080", DB: "postgres://tmf@db/tmf", BizpackDir: uploads}), ""},
		{"secrets from files", []string{"--admin-token-file", secretFile(t, testAdminToken+"\n")}, map[string]string{
			"TMF_DB_FILE": secretFile(t, "mysql://root:pw@tcp(db:3306)/tmf\r\n")},
			kept(serveOptions{Listen: "127.0.0.1:8080", DB: "mysql://root:pw@tcp(db:3306)/tmf", AdminToken: testAdminToken, BizpackDir: uploads}), ""},
		{"a short admin token", nil, map[string]string{"TMF_ADMIN_TOKEN": "admin-secret"}, serveOptions{}, "at least 32"},
		{"an empty secret file", []string{"--db-file", secretFile(t, "\n")}, nil, serveOptions{}, "empty"},
		{"a missing secret file", []string{"--admin-token-file", "/nonexistent/token"}, nil, serveOptions{}, "admin-token-file"},
		{"a flag wins over the environment", []string{"--listen", ":7000", "--demo=false"}, map[string]string{"TMF_LISTEN": ":9000", "TMF_DEMO": "1"},
			kept(serveOptions{Listen: ":7000", BizpackDir: uploads}), ""},
		{"policy and JWT settings", []string{"--policy", "policy/", "--jwt-audience", "tmf"}, map[string]string{"TMF_JWT_ISSUER": "https://idp",
			"TMF_JWT_HS256_SECRET_FILE": "s", "TMF_JWT_RS256_KEYS": "k.pem", "TMF_JWT_AUDIENCE": "other"},
			kept(serveOptions{Listen: "127.0.0.1:8080", Policy: "policy/", JWTIssuer: "https://idp", JWTAudience: "tmf", JWTSecretFile: "s",
				JWTKeysFile: "k.pem", BizpackDir: uploads}), ""},
		{"bizpack uploads", []string{"--bizpack-dir", "/srv/bizpacks"}, nil, kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: "/srv/bizpacks"}), ""},
		{"retentions", []string{"--idempotency-retention", "1h", "--outbox-retention", "0"}, map[string]string{"TMF_OUTBOX_RETENTION": "48h"},
			serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, IdempotencyRetention: time.Hour, PaymentCallTimeout: payment.DefaultCallTimeout}, ""},
		{"retention from the environment", nil, map[string]string{"TMF_IDEMPOTENCY_RETENTION": "30m", "TMF_OUTBOX_RETENTION": "48h"},
			serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, IdempotencyRetention: 30 * time.Minute, OutboxRetention: 48 * time.Hour,
				PaymentCallTimeout: payment.DefaultCallTimeout}, ""},
		{"payment call timeout", []string{"--payment-call-timeout", "2s"}, nil,
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, PaymentCallTimeout: 2 * time.Second}), ""},
		{"rate limits", []string{"--rate-principal", "5.5", "--auth-block", "1m"}, map[string]string{"TMF_RATE_ADDRESS_BURST": "7", "TMF_AUTH_FAILURES": "3"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, RateLimits: api.RateLimits{PrincipalRate: 5.5,
				PrincipalBurst: 100, AddressRate: 20, AddressBurst: 7, AuthFailures: 3, AuthFailureWindow: time.Minute, AuthBlock: time.Minute}}), ""},
		{"rate limits off", []string{"--rate-principal", "0", "--rate-address", "0", "--auth-failures", "0"}, nil,
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, RateLimits: api.RateLimits{PrincipalBurst: 100, AddressBurst: 40,
				AuthFailureWindow: time.Minute, AuthBlock: 5 * time.Minute}}), ""},
		{"unpaid caps", []string{"--max-unpaid-orders", "5"}, map[string]string{"TMF_MAX_UNPAID_QUANTITY": "20"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, MaxUnpaidOrders: 5, MaxUnpaidQuantity: 20}), ""},
		{"unpaid cap zero", []string{"--max-unpaid-orders", "0"}, nil, serveOptions{}, "at least 1"},
		{"bad rate", nil, map[string]string{"TMF_RATE_PRINCIPAL_BURST": "1.5"}, serveOptions{}, "TMF_RATE_PRINCIPAL_BURST"},
		{"negative rate", []string{"--rate-address", "-1"}, nil, serveOptions{}, "negative"},
		{"payment call timeout not positive", []string{"--payment-call-timeout", "0s"}, nil, serveOptions{}, "payment-call-timeout"},
		{"bad retention", nil, map[string]string{"TMF_OUTBOX_RETENTION": "a week"}, serveOptions{}, "TMF_OUTBOX_RETENTION"},
		{"negative retention", []string{"--idempotency-retention", "-1h"}, nil, serveOptions{}, "negative"},
		{"negative reconcile interval", []string{"--reconcile-interval", "-1m"}, nil, serveOptions{}, "reconcile-interval"},
		{"dashboard step", nil, map[string]string{"TMF_DASHBOARD_STEP": "2s"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, DashboardStep: 2 * time.Second}), ""},
		{"dashboard step under a second", []string{"--dashboard-step", "500ms"}, nil, serveOptions{}, "dashboard-step"},
		{"read replicas", []string{"--db-replica", "postgres://r1/db,postgres://r2/db", "--db-replica", "postgres://r3/db", "--replica-max-lag", "5s"},
			map[string]string{"TMF_DB_REPLICAS": "postgres://env/db"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads,
				Replicas: replicaOptions{DSNs: "postgres://r1/db,postgres://r2/db,postgres://r3/db", MaxLag: 5 * time.Second}}), ""},
		{"read replicas from the environment", nil, map[string]string{"TMF_DB_REPLICAS": "postgres://a/db, postgres://b/db", "TMF_REPLICA_MAX_LAG": "1s"},
			kept(serveOptions{Listen: "127.0.0.1:8080", BizpackDir: uploads, Replicas: replicaOptions{DSNs: "postgres://a/db,postgres://b/db", MaxLag: time.Second}}), ""},
		{"bad replica lag", nil, map[string]string{"TMF_REPLICA_MAX_LAG": "soon"}, serveOptions{}, "TMF_REPLICA_MAX_LAG"},
		{"replica lag not positive", []string{"--replica-max-lag", "0s"}, nil, serveOptions{}, "replica-max-lag"},
		{"bad demo value", nil, map[string]string{"TMF_DEMO": "maybe"}, serveOptions{}, "TMF_DEMO"},
		{"stray argument", []string{"extra"}, nil, serveOptions{}, "no arguments"},
		{"unknown flag", []string{"--nope"}, nil, serveOptions{}, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			want := tc.want
			if want.RateLimits == (api.RateLimits{}) {
				want.RateLimits = api.DefaultRateLimits
			}
			if want.JWTMaxLifetime == 0 {
				want.JWTMaxLifetime = authn.DefaultMaxLifetime
			}
			if want.MaxUnpaidOrders == 0 {
				want.MaxUnpaidOrders, want.MaxUnpaidQuantity = 50, 1000
			}
			if want.Webhooks == (webhookOptions{}) {
				want.Webhooks = defaultWebhookOptions()
			}
			if want.ReconcileInterval == 0 {
				want.ReconcileInterval = DefaultReconcileInterval
			}
			if want.DashboardStep == 0 {
				want.DashboardStep = series.DefaultStep
			}
			if want.Replicas.MaxLag == 0 {
				want.Replicas.MaxLag = replica.DefaultMaxLag
			}
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// secretFile writes a secret to a file of the test's.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultConfigCompiles(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	set, err := k.Apply(cfg)
	if err != nil {
		t.Fatalf("the built-in default configuration does not compile: %v", err)
	}
	if len(set.Identities()) < 4 {
		t.Fatalf("identities: %v", set.Identities())
	}
}

func TestConfigFilesAreStrict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"typo.yaml": "revision: 2\nidentities:\n  - code: shop\n    prodcts: [{name: standard-retail}]\n",
		"bad.json":  `{"revision": "two"}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good := filepath.Join(dir, "good.json")
	_ = os.WriteFile(good, []byte(`{"revision": 3, "identities": [{"code": "shop", "products": [{"name": "standard-retail"}], "paymentTimeout": "5m"}]}`), 0o600)
	cfg, err := loadConfig(good)
	if err != nil || cfg.Revision != 3 || cfg.Identities[0].PaymentTimeout != kernel.Duration(5*60e9) {
		t.Fatalf("good config: %+v, %v", cfg, err)
	}
	if _, err := loadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file was accepted")
	}
}
