package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/bizpacks/virtual-topup/supplier"
)

// The supplier-fulfilment journey through tmfd, with virtual-topup as a
// real plugin process talking over HTTP to the sandbox supplier, which
// calls tmfd back with signed answers: one top-up delivered at once, one
// by callback, one called back twice, one refused (refunded), and one
// delivered after its deadline (refunded, then raised as a late success).
func TestSupplierFulfilmentJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the virtual-topup bizpack and runs it as a plugin")
	}
	dir := t.TempDir()
	bin, sum := buildExample(t, filepath.Join(dir, "virtual-topup"), "virtual-topup")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	addr := freeAddr(t)
	base := "http://" + addr
	sandbox := supplier.NewSandbox("topup-sandbox", secret, base+"/v1/fulfilment/callbacks/topup-sandbox")
	// The identity's deadline is 4s: a late answer comes at 7s.
	sandbox.Delay, sandbox.LateAfter = 200*time.Millisecond, 7*time.Second
	supplierSrv := httptest.NewServer(sandbox)
	defer supplierSrv.Close()
	defer sandbox.Close()

	cfg := map[string]any{"revision": 1,
		"identities": []map[string]any{
			{"code": "retail", "products": []map[string]any{{"name": "standard-retail"}}},
			{"code": "virtual"},
			{"code": "virtual.topup", "bizpacks": []map[string]any{{"name": "virtual-topup"}},
				"fulfilment": map[string]any{"deadline": "4s", "pollEvery": "1s"}},
		},
		"rules": []map[string]any{{"identity": "retail"}, {"identity": "virtual.topup", "category": "topup"}},
		"bizpacks": []map[string]any{{"name": "virtual-topup", "path": bin, "sha256": sum,
			"env": map[string]string{"TOPUP_SUPPLIER_URL": supplierSrv.URL, "TOPUP_SUPPLIER_NAME": "topup-sandbox"}}},
	}
	cfgPath := filepath.Join(dir, "tmfd.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	suppliers := filepath.Join(dir, "suppliers.json")
	if err := os.WriteFile(suppliers, []byte(`{"topup-sandbox": "`+secret+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: addr, DB: filepath.Join(dir, "tmf.db"), Demo: true, AdminToken: testAdminToken,
			Config: cfgPath, BizpackDir: filepath.Join(dir, "uploads"), FulfilmentSuppliersFile: suppliers}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("tmfd log:\n%s", lastLines(stderr.String(), 60))
		}
	}()
	waitReady(t, base)

	place := func(phone string) string {
		t.Helper()
		// order.validate runs in the plugin with a 50 ms deadline: on a
		// loaded machine (-race, parallel packages) a call may miss it and
		// the placement is refused whole (504 extension_timeout, nothing
		// written); the buyer tries again.
		var status int
		var o map[string]any
		for try := range 5 {
			status, o = apiCall(t, base, "demo-alice", "POST", "/v1/orders",
				fmt.Sprintf(`{"items":[{"sku":"topup-50","quantity":1}],"paymentMethod":"card","attributes":{"phone":%q}}`, phone),
				"Idempotency-Key", fmt.Sprintf("place-%s-%d", phone, try))
			if status != http.StatusGatewayTimeout {
				break
			}
		}
		if status != http.StatusCreated {
			t.Fatalf("place %s: %d %v", phone, status, o)
		}
		id := o["id"].(string)
		status, o = apiCall(t, base, "demo-alice", "POST", "/v1/orders/"+id+"/payments", `{"card":{"number":"4242424242424242"}}`,
			"Idempotency-Key", "pay-"+phone)
		if status != http.StatusOK {
			t.Fatalf("pay %s: %d %v", phone, status, o)
		}
		return id
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	status := func(id string) string {
		_, o := apiCall(t, base, "demo-alice", "GET", "/v1/orders/"+id, "")
		s, _ := o["status"].(string)
		return s
	}
	want := map[string]string{
		"+8613800138001": "fulfilled",     // delivered at once
		"+8613800138002": "fulfilled",     // by callback
		"+8613800138003": "fulfilled",     // called back twice
		"+8613800138004": "fulfil_failed", // refused
		"+8613800138007": "fulfil_failed", // past the deadline, then late
	}
	ids := map[string]string{}
	for _, phone := range slices.Sorted(func(yield func(string) bool) {
		for p := range want {
			if !yield(p) {
				return
			}
		}
	}) {
		ids[phone] = place(phone)
	}
	for phone, st := range want {
		waitFor(phone+" "+st, func() bool { return status(ids[phone]) == st })
	}
	late := ids["+8613800138007"]
	waitFor("the late success is listed", func() bool {
		_, l := apiCall(t, base, testAdminToken, "GET", "/v1/admin/fulfilment/late", "")
		items, _ := l["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["orderId"] == late
	})
	// The twice-called-back top-up: both callbacks answered 200, the
	// order was fulfilled once.
	twice := ids["+8613800138003"]
	waitFor("both callbacks of the duplicate", func() bool {
		n := 0
		for _, s := range sandbox.Sent() {
			if strings.HasPrefix(s, twice+":") && strings.HasSuffix(s, ":200") {
				n++
			}
		}
		return n == 2
	})
	_, hist := apiCall(t, base, testAdminToken, "GET", "/v1/orders/"+twice+"/history", "")
	fulfils := 0
	for _, h := range anySlice(hist["items"]) {
		if h.(map[string]any)["event"] == "fulfil" {
			fulfils++
		}
	}
	if fulfils != 1 {
		t.Errorf("the order called back twice was fulfilled %d times: %v", fulfils, hist)
	}
	// Refunds are paid by payment recovery; then the money adds up.
	waitFor("a clean money audit", func() bool {
		_, a := apiCall(t, base, testAdminToken, "GET", "/v1/admin/payments/audit", "")
		return a["clean"] == true
	})
	if n := sandbox.Requests(); n != len(want) {
		t.Errorf("the supplier topped up %d times for %d orders", n, len(want))
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
