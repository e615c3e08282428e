package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// syncBuffer is an io.Writer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// testAdminToken is the administrator token of the tests: tmfd refuses
// one shorter than MinAdminToken.
const testAdminToken = "admin-secret-for-tests-0123456789abcdef"

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The README's journey: start on the embedded default with demo data, place
// an order as a demo buyer, pay it, then shut down gracefully.
func TestServeDemoJourneyAndGracefulShutdown(t *testing.T) {
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "tmf.db")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: addr, DB: db, Demo: true, AdminToken: testAdminToken, CommandLineSecrets: "admin-token"},
			&stdout, &stderr)
	}()
	base := "http://" + addr
	waitReady(t, base)
	if !strings.Contains(stderr.String(), "a secret is given on the command line") || !strings.Contains(stderr.String(), `"flag":"--admin-token"`) {
		t.Errorf("no warning about the admin token on the command line:\n%s", stderr.String())
	}

	do := func(method, path, token, key, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, token, method, path, body, "Idempotency-Key", key)
	}
	status, o := do("POST", "/v1/orders", "demo-alice", "k-1",
		`{"items":[{"sku":"phone-x","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`)
	if status != http.StatusCreated || o["status"] != "pending_payment" || o["bizCode"] != "retail" {
		t.Fatalf("place: %d %v\nstderr: %s", status, o, lastLines(stderr.String(), logLines))
	}
	aliceOrder := o["id"].(string)
	status, o = do("POST", fmt.Sprintf("/v1/orders/%s/payments", o["id"]), "demo-alice", "pay-1", `{"card":{"number":"4242424242424242"}}`)
	if paid, _ := o["order"].(map[string]any); status != http.StatusOK || paid["status"] != "pending_outbound" {
		t.Fatalf("pay: %d %v", status, o)
	}
	status, o = do("POST", "/v1/orders", "demo-alice", "k-2", `{"items":[{"sku":"topup-50","quantity":2}]}`)
	if status != http.StatusCreated || o["bizCode"] != "virtual.topup" {
		t.Fatalf("top-up resolved by category: %d %v", status, o)
	}
	// The agent's order resolves to b2b by the agent role, is priced at its
	// tier and paid from its credit line.
	status, o = do("POST", "/v1/orders", "demo-agent-1", "k-3",
		`{"items":[{"sku":"case-x","quantity":12}],"shippingAddress":{"region":"east","line1":"1 Depot Rd"}}`)
	if status != http.StatusCreated || o["bizCode"] != "b2b" || o["paymentMethod"] != "agent_credit" {
		t.Fatalf("agent order: %d %v", status, o)
	}
	status, o = do("POST", fmt.Sprintf("/v1/orders/%s/payments", o["id"]), "demo-agent-1", "pay-3", `{}`)
	if paid, _ := o["order"].(map[string]any); status != http.StatusOK || paid["status"] != "pending_review" {
		t.Fatalf("agent pays by credit: %d %v", status, o)
	}
	// The demo tree: agent-1 (east) sees alice's order (shanghai, under
	// east); bob (chengdu) may not know it exists.
	if status, _ := do("GET", "/v1/orders/"+aliceOrder, "demo-agent-1", "", ""); status != http.StatusOK {
		t.Fatalf("agent-1 reads an order of its subtree: %d", status)
	}
	if status, o := do("GET", "/v1/orders/"+aliceOrder, "demo-bob", "", ""); status != http.StatusNotFound || o["code"] != "order_not_found" {
		t.Fatalf("bob reads alice's order: %d %v", status, o)
	}
	if status, o := do("GET", "/v1/orders?limit=10", "demo-agent-1", "", ""); status != http.StatusOK || len(o["orders"].([]any)) != 3 {
		t.Fatalf("agent-1 lists alice's two orders and its own: %d %v", status, o)
	}
	if status, _ := do("GET", "/v1/skus/phone-x", "wrong-token", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", status)
	}
	// Reconciliation on demand (no schedule here) finds the demo journey
	// consistent.
	status, run := do("POST", "/v1/admin/reconciliation/runs", testAdminToken, "", `{"kind":"full"}`)
	if status != http.StatusAccepted {
		t.Fatalf("start reconciliation: %d %v", status, run)
	}
	for deadline := time.Now().Add(60 * time.Second); run["status"] == "running"; {
		if time.Now().After(deadline) {
			t.Fatalf("the reconciliation run never finished: %v", run)
		}
		time.Sleep(50 * time.Millisecond)
		_, run = do("GET", fmt.Sprintf("/v1/admin/reconciliation/runs/%s", run["id"]), testAdminToken, "", "")
	}
	if run["status"] != "succeeded" || run["found"] != 0.0 || run["orders"] != 3.0 {
		t.Fatalf("reconciliation after the demo journey: %v", run)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(metrics.String(), `tmf_extension_calls_total{`) {
		t.Fatal("/metrics lacks the kernel's per-point metrics")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the server did not shut down")
	}
	if !strings.Contains(stdout.String(), "demo data loaded") {
		t.Fatalf("stdout: %s", stdout.String())
	}

	// A second start on the same database migrates again and keeps the data.
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() {
		done <- serve(ctx2, serveOptions{Listen: addr, DB: db, Demo: true}, &stdout, &stderr)
	}()
	waitReady(t, base)
	status, o = do("GET", "/v1/orders?limit=10", "demo-alice", "", "")
	if status != http.StatusOK || len(o["orders"].([]any)) != 2 {
		t.Fatalf("after restart: %d %v", status, o)
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server not ready")
}

// apiCall calls the server at base with a bearer token, a JSON body (none
// when empty) and extra headers as name, value pairs (empty values are not
// sent), and decodes the JSON answer.
func apiCall(t *testing.T, base, token, method, path, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// running is a tmfd started by runServe.
type running struct {
	// Base is the server's URL, "http://127.0.0.1:PORT".
	Base   string
	Stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	err    error
	once   sync.Once
}

// runServe starts serve with o on a free port, waits until it is ready and
// stops it when the test ends (Stop stops it earlier). The server's log is
// printed if the test failed.
func runServe(t *testing.T, o serveOptions) *running {
	t.Helper()
	o.Listen = freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{Base: "http://" + o.Listen, Stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- serve(ctx, o, io.Discard, r.Stderr) }()
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", lastLines(r.Stderr.String(), logLines))
		}
	})
	waitReady(t, r.Base)
	return r
}

// Stop shuts the server down gracefully and returns serve's error.
func (r *running) Stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// logLines is how much of a server's log a failing test prints: the cause is
// near the end, and hundreds of lines above it would bury it.
const logLines = 100

// lastLines is the end of log, at most n lines, saying how many were left
// out before them.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("[%d earlier lines left out]\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}

func TestLastLinesKeepsTheEnd(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 250 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	got := strings.Split(lastLines(b.String(), logLines), "\n")
	if len(got) != logLines+1 || got[0] != "[150 earlier lines left out]" || got[1] != "line 150" || got[logLines] != "line 249" {
		t.Fatalf("got %d lines: %q … %q", len(got), got[0], got[len(got)-1])
	}
	if got := lastLines("a\nb\n", logLines); got != "a\nb" {
		t.Fatalf("a short log: %q", got)
	}
}

// The first start prints the administrator's token; a restart without
// --admin-token says where it went and how to set one.
func TestBootstrapAdminSaysHowToGetAToken(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, "sqlite")
	var first, again strings.Builder
	if err := bootstrapAdmin(t.Context(), st, "", &first); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "administrator token (shown once, keep it): ") {
		t.Fatalf("first start printed %q", first.String())
	}
	if err := bootstrapAdmin(t.Context(), st, "", &again); err != nil {
		t.Fatal(err)
	}
	if out := again.String(); !strings.Contains(out, "shown once, at the first start") || !strings.Contains(out, "--admin-token") ||
		!strings.Contains(out, "TMF_ADMIN_TOKEN") || strings.Contains(out, "administrator token (shown once") {
		t.Fatalf("restart printed %q", out)
	}
	var set strings.Builder
	if err := bootstrapAdmin(t.Context(), st, "chosen-admin-token-0123456789", &set); err != nil || set.Len() != 0 {
		t.Fatalf("with --admin-token: printed %q, %v", set.String(), err)
	}
}
