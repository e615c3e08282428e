package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The console's Dashboard after a burst of orders: the placed-orders chart
// has a point above zero for the identity the orders went to, the gross
// value chart too, the refusals chart shows the burst's refused orders by
// code, the range selector redraws the charts, and every chart has a text
// alternative (the accessibility checks of the other journeys). The
// screenshot goes to $TMF_ARTEFACTS/console/NN-dashboard.png
// (docs/images/console/dashboard.png is a copy).
func TestConsoleDashboardShowsABurst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("no Chromium: install it (apt-get install -y chromium) or set TMF_CHROMIUM to run the console's browser tests")
	}
	dir := t.TempDir()
	shots := os.Getenv("TMF_ARTEFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// A step of 1 s (the coarse ring then holds 6 s samples) so that the
	// burst is sampled within seconds, not tens of seconds.
	base := runServe(t, serveOptions{DB: filepath.Join(dir, "tmf.db"), Demo: true, AdminToken: testAdminToken,
		DashboardStep: time.Second}).Base

	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	b := &browser{t: t, ctx: bctx, base: base, dir: shots}

	b.open("")
	b.fill("#login-token", testAdminToken)
	b.click("#login-submit")
	b.waitText("#signed-in", "admin")
	b.waitTrue("the navigation entry", `!!document.querySelector("#nav-dashboard")`)
	b.click("#nav-dashboard")
	b.waitText("h1", "Dashboard")
	b.waitTrue("the panels drawn", `!!document.querySelector("#chart-orders_placed")`)

	// The burst: orders of two buyers, and some the API refuses (an
	// unknown SKU), each counted where it belongs.
	placed := 0
	for i := range 12 {
		buyer := []string{"demo-alice", "demo-bob"}[i%2]
		status, out := apiCall(t, base, buyer, "POST", "/v1/orders",
			`{"items":[{"sku":"case-x","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`,
			"Idempotency-Key", fmt.Sprintf("dashboard-burst-%d", i))
		if status != http.StatusCreated {
			t.Fatalf("placing order %d: %d %v", i, status, out)
		}
		placed++
	}
	for i := range 3 {
		if status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders",
			`{"items":[{"sku":"no-such-sku","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`,
			"Idempotency-Key", fmt.Sprintf("dashboard-refused-%d", i)); status < 400 || status >= 500 {
			t.Fatalf("an order of an unknown SKU: %d %v", status, out)
		}
	}
	t.Logf("placed %d orders", placed)

	// The page polls: the burst appears without a reload.
	b.waitTrue("the placed-orders chart shows the burst",
		`Number(document.querySelector("#chart-orders_placed").dataset.max) > 0 && `+
			`!!document.querySelector('#chart-orders_placed path[data-series="retail"]') && `+
			`Number(document.querySelector('#chart-orders_placed path[data-series="retail"]').dataset.max) > 0`)
	b.waitTrue("the gross value chart shows it", `Number(document.querySelector("#chart-order_value").dataset.max) > 0`)
	b.waitTrue("the refusals chart names the refused orders' code",
		`[...document.querySelectorAll("#chart-refusals path")].some((p) => p.dataset.series !== "" && Number(p.dataset.max) > 0)`)
	b.waitTrue("the latency chart has POST /v1/orders",
		`!!document.querySelector('#chart-api_p99 path[data-series="POST · /v1/orders"]')`)
	b.waitText("#table-orders_placed", "retail")
	b.waitText("#chart-orders_placed-desc", "retail: now")
	// A few more samples, so that the screenshot shows lines, not dots.
	b.waitTrue("five samples", `Number(document.querySelector("#dashboard-panels").dataset.samples) >= 5`)
	b.screenshot("dashboard")

	// Another range redraws from the server; the burst is still in it.
	b.waitTrue("range 15m chosen", `(() => { const s = document.querySelector("#dashboard-range"); s.value = "15m"; `+
		`s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	b.waitTrue("the page at range 15m", `location.hash === "#/dashboard?range=15m" && document.querySelector("#dashboard-range").value === "15m"`)
	b.waitTrue("the burst in the 15m range", `!!document.querySelector("#chart-orders_placed") && Number(document.querySelector("#chart-orders_placed").dataset.max) > 0`)
	b.screenshot("dashboard-15m")

	// The API refuses what the selector never sends.
	if status, out := apiCall(t, base, testAdminToken, "GET", "/v1/admin/dashboard?range=2h", ""); status != http.StatusBadRequest || out["code"] != "invalid_request" {
		t.Fatalf("range=2h: %d %v", status, out)
	}
}
