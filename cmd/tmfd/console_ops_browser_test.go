package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tmf-platform/tmf/platform/store"
)

// setValue sets a field's value as a person choosing it would (date
// pickers and selects take no keystrokes): for a multiple select, values
// are the options to select, comma-separated.
func (b *browser) setValue(sel, values string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
  if (e.multiple) { const want = %q.split(","); for (const o of e.options) o.selected = want.includes(o.value); }
  else e.value = %q;
  e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, values, values)
	b.run("set "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		ok, err := chromedp.Evaluate[bool](js)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("no %s", sel)
		}
		return chromedp.Void{}, err
	})
}

// opsJourneys walks the console's operations pages (issue 20): supplier
// fulfilment failures with a late success resolved (and one a colleague
// resolved first: 409), the order search's filters with keyset paging
// that survive a reload, and the purchase-limit editor (a refused revision
// naming every problem with nothing typed lost, then saved, then a limit
// removed).
func opsJourneys(journey func(string, func(*testing.T)), b *browser, base, dbPath string) {
	var placed []string
	journey("supplier fulfilment failures: a late success resolved", func(t *testing.T) {
		b.t = t
		// Six unpaid orders: four for the fulfilment rows, and enough for
		// three pages of two in the order search.
		for i := range 6 {
			status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders",
				`{"items":[{"sku":"case-x","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`, "Idempotency-Key", fmt.Sprintf("console-ops-%d", i))
			if status != http.StatusCreated {
				t.Fatalf("placing an order: %d %v", status, out)
			}
			placed = append(placed, out["id"].(string))
		}
		st, err := store.Open(t.Context(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// Work rows as the fulfilment worker leaves them; not due for
		// years, so the worker running in the server leaves them alone.
		now := time.Now().UTC().Truncate(time.Microsecond)
		never := now.Add(24 * 365 * time.Hour).UnixMicro()
		lateAt := now.Add(-time.Minute)
		rows := []store.Fulfilment{
			{OrderID: placed[0], BizCode: "retail", State: store.FulfilmentWaiting, Supplier: "topup-sandbox", Reference: "TS-100",
				Attempts: 7, LastError: "fulfilment.query: supplier answered 503", NextAttempt: never, LeaseUntil: never, Deadline: never},
			{OrderID: placed[1], BizCode: "retail", State: store.FulfilmentFailed, Supplier: "topup-sandbox", Attempts: 2,
				Reason: "the supplier refused: number not recharged", NextAttempt: never, Deadline: never},
			{OrderID: placed[2], BizCode: "retail", State: store.FulfilmentFailed, Supplier: "topup-sandbox", Attempts: 9,
				Reason: "deadline passed", NextAttempt: never, Deadline: never, LateAt: &lateAt, LateReference: "TS-LATE-1", LateSource: "callback"},
			{OrderID: placed[3], BizCode: "retail", State: store.FulfilmentFailed, Supplier: "topup-sandbox", Attempts: 9,
				Reason: "deadline passed", NextAttempt: never, Deadline: never, LateAt: &lateAt, LateReference: "TS-LATE-2", LateSource: "poll"},
		}
		for i := range rows {
			rows[i].CreatedAt, rows[i].UpdatedAt = now, now
			if err := st.DB(t.Context()).Create(&rows[i]).Error; err != nil {
				t.Fatalf("planting a fulfilment row: %v", err)
			}
		}
		b.open("#/fulfilment")
		b.waitText("#fulfilment-fulfilling-table", placed[0], "waiting", "supplier answered 503")
		b.waitText("#fulfilment-failed-table", placed[1], "number not recharged")
		b.waitText("#fulfilment-late-table", placed[2], "TS-LATE-1", placed[3], "TS-LATE-2")
		b.screenshot("fulfilment-failures")
		// A colleague resolves the second meanwhile: the page says so.
		if status, out := apiCall(t, base, testAdminToken, "POST", "/v1/admin/fulfilment/late/"+placed[3]+"/resolve", ""); status != http.StatusOK {
			t.Fatalf("resolving through the API: %d %v", status, out)
		}
		b.click("#fulfilment-resolve-" + placed[3])
		b.waitText("#confirm-dialog", "Mark the late success of order "+placed[3])
		b.click("#confirm-yes")
		b.waitText("#fulfilment-problem", "Not resolved", "fulfilment_not_late", "Reload the list")
		b.screenshot("fulfilment-resolve-refused")
		b.click("#fulfilment-reload")
		b.waitTrue("the resolved one gone", fmt.Sprintf(`!!document.querySelector("#fulfilment-late-table") && !document.getElementById("fulfilment-late-row-%s")`, placed[3]))
		// Asked first; Not yet changes nothing.
		b.click("#fulfilment-resolve-" + placed[2])
		b.waitText("#confirm-dialog", "cannot be undone")
		b.screenshot("fulfilment-resolve-confirm")
		b.click("#confirm-no")
		b.waitTrue("the dialog gone", `!document.querySelector("#confirm-dialog")`)
		_, out := apiCall(t, base, testAdminToken, "GET", "/v1/admin/fulfilment/"+placed[2], "")
		if out["lateResolvedAt"] != nil {
			t.Fatalf("Not yet resolved it: %v", out)
		}
		b.click("#fulfilment-resolve-" + placed[2])
		b.click("#confirm-yes")
		b.waitText("#status", "late success of order "+placed[2]+" is resolved by admin")
		b.waitText("#fulfilment-late-none", "No unresolved late success")
		b.screenshot("fulfilment-resolved")
		_, out = apiCall(t, base, testAdminToken, "GET", "/v1/admin/fulfilment/"+placed[2], "")
		if out["lateResolvedBy"] != "admin" {
			t.Fatalf("after resolving: %v", out)
		}
	})

	journey("order search: filters, keyset paging, reload, nothing found", func(t *testing.T) {
		b.t = t
		b.open("#/orders")
		// Retail's unpaid orders stay so for 30 minutes; retail.flash's are
		// cancelled within the journey.
		b.setValue("#order-filter-statuses", "pending_payment")
		b.fill("#order-filter-bizcode", "retail")
		b.fill("#order-filter-buyer", "alice")
		b.fill("#order-filter-limit", "2")
		b.click("#order-search")
		b.waitText("#orders-summary", "2 orders", "the first page", "status pending_payment")
		first := b.text("#orders-table tbody")
		b.click("#orders-next")
		b.waitText("#orders-summary", "page 2")
		second := b.text("#orders-table tbody")
		if second == first {
			t.Fatalf("page 2 shows page 1 again: %q", second)
		}
		b.click("#orders-next")
		b.waitText("#orders-summary", "page 3")
		b.click("#orders-prev")
		b.waitText("#orders-summary", "page 2")
		if got := b.text("#orders-table tbody"); got != second {
			t.Fatalf("Previous from page 3 shows %q, want page 2 %q", got, second)
		}
		// The filters and the page survive a reload.
		b.run("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("#view")))
		b.waitText("#orders-summary", "page 2")
		b.waitTrue("the status still selected", `document.querySelector('#order-filter-statuses option[value="pending_payment"]').selected`)
		if got := b.value("#order-filter-buyer"); got != "alice" {
			t.Fatalf("after a reload the buyer field holds %q", got)
		}
		b.screenshot("order-search")
		b.click("#orders-prev")
		b.waitText("#orders-summary", "the first page")
		if got := b.text("#orders-table tbody"); got != first {
			t.Fatalf("Previous to page 1 shows %q, want %q", got, first)
		}
		b.fill("#order-filter-buyer", "nobody-at-all")
		b.click("#order-search")
		b.waitText("#orders-none", "No order matches these filters", "buyerId nobody-at-all")
		b.screenshot("order-search-empty")
		// A filter only the read model serves, on a server without one:
		// the refusal is shown at its field.
		b.fill("#order-filter-buyer", "alice")
		b.fill("#order-filter-sku", "case-x")
		b.click("#order-search")
		b.waitText("#orders-error", "search_not_configured")
		b.waitText("#order-filter-sku-error", "needs the order read model")
		if got := b.value("#order-filter-sku"); got != "case-x" {
			t.Fatalf("after the refusal the SKU field holds %q", got)
		}
	})

	journey("purchase limits: two added, refused with every problem named, fixed and saved, one removed", func(t *testing.T) {
		b.t = t
		limitsOf := func() []any {
			t.Helper()
			_, out := apiCall(t, base, testAdminToken, "GET", "/v1/admin/identities/virtual", "")
			l, _ := out["purchaseLimits"].([]any)
			return l
		}
		b.open("#/limits")
		b.waitText("#limit-row-virtual-two-a-day", "two-a-day")
		b.setValue("#limits-edit-identity", "virtual")
		b.click("#limits-edit")
		b.waitText("#limit-0", "two-a-day")
		if got := b.value("#limit-0-max"); got != "2" {
			t.Fatalf("limit 1's max shows %q", got)
		}
		b.click("#limits-add")
		b.fill("#limit-1-name", "phone-cap")
		b.fill("#limit-1-per", "attr:phone")
		b.setValue("#limit-1-window", "period")
		b.setValue("#limit-1-from", "2027-02-01T00:00")
		b.setValue("#limit-1-to", "2027-01-01T00:00")
		b.fill("#limit-1-max", "3")
		b.click("#limits-add")
		b.fill("#limit-2-name", "big-spend")
		b.setValue("#limit-2-measure", "amount")
		b.fill("#limit-2-currency", "EU")
		b.fill("#limit-2-max", "100000")
		b.click("#limits-save")
		b.waitText("#limits-problems", "Not saved: 2 problems", `"phone-cap": a period needs from before to`,
			`"big-spend": the amount measure needs a currency`, "still in the form")
		if got := b.value("#limit-1-name"); got != "phone-cap" {
			t.Fatalf("after the refusal the new limit's name holds %q", got)
		}
		if n := len(limitsOf()); n != 1 {
			t.Fatalf("a refused revision changed the limits: %d", n)
		}
		b.screenshot("limits-refused")
		// Reloading keeps what was typed too.
		b.run("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("#view")))
		b.waitText("#limits-draft", "unsaved changes")
		if got := b.value("#limit-1-per"); got != "attr:phone" {
			t.Fatalf("after a reload the new limit counts per %q", got)
		}
		b.fill("#limit-1-per", "buyer")
		b.setValue("#limit-1-to", "2027-03-01T00:00")
		b.click("#limit-2-remove")
		b.waitTrue("big-spend gone from the form", `!document.querySelector("#limit-2")`)
		b.click("#limits-save")
		b.waitText("#status", "Saved revision", "virtual has 2 purchase limits")
		b.waitText("#limit-1", "phone-cap")
		b.screenshot("limits-saved")
		l := limitsOf()
		if len(l) != 2 || l[1].(map[string]any)["name"] != "phone-cap" || l[1].(map[string]any)["to"] != "2027-03-01T00:00:00Z" {
			t.Fatalf("after saving the limits are %v", l)
		}
		b.click("#limit-0-remove")
		b.waitTrue("one limit left in the form", `!document.querySelector("#limit-1") && document.querySelector("#limit-0-name").value === "phone-cap"`)
		b.click("#limits-save")
		b.waitText("#status", "virtual has 1 purchase limit")
		if l := limitsOf(); len(l) != 1 || l[0].(map[string]any)["name"] != "phone-cap" {
			t.Fatalf("after removing two-a-day the limits are %v", l)
		}
		b.open("#/limits")
		b.waitText("#limit-row-virtual-phone-cap", "phone-cap", "3 units")
		b.screenshot("purchase-limits")
	})
}

// text reads an element's text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : "" })()`, sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}
