package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// withReconciler gives the server a reconciliation runner over st, also
// kept in *out, and waits for its background runs when the test ends.
func withReconciler(t *testing.T, st *store.Store, out **reconcile.Runner) func(*api.Config) {
	return func(cfg *api.Config) {
		r := reconcile.New(st, reconcile.Options{Node: "test", Registerer: cfg.Registerer})
		if err := r.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Wait)
		cfg.Reconciler = r
		if out != nil {
			*out = r
		}
	}
}

// reconcileEnv is an env whose server runs reconciliation with r.
func reconcileEnv(t *testing.T, st *store.Store) (*env, *reconcile.Runner) {
	t.Helper()
	var r *reconcile.Runner
	e := newEnv(t, st, withReconciler(t, st, &r))
	return e, r
}

// exerciseReconciliation answers every documented status of the
// reconciliation routes (TestLiveAnswersMatchTheSpec); buyer is a token
// the policy refuses.
func exerciseReconciliation(t *testing.T, e *env, r *reconcile.Runner, buyer string) {
	t.Helper()
	now := time.Now().UTC()
	if err := e.st.DB(t.Context()).Create(&promotion.BudgetBucket{PromotionID: "spec-ghost", Remaining: 1, Currency: "CNY",
		UpdatedAt: now}).Error; err != nil {
		t.Fatal(err)
	}
	run := e.runReconciliation(r, reconcile.KindFull)
	release, err := r.Hold(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.do("POST", "/v1/admin/reconciliation/runs", adminToken, `{}`), 409, api.CodeReconcileBusy)
	release()
	resp := e.do("GET", "/v1/admin/reconciliation/mismatches?status=open&check=promotion", adminToken, nil)
	expect(t, resp, 200, "")
	list := decodeJSON[api.MismatchList](t, resp)
	if len(list.Mismatches) == 0 {
		t.Fatalf("no mismatch: %s", resp)
	}
	m := fmt.Sprintf("/v1/admin/reconciliation/mismatches/%d", list.Mismatches[0].ID)
	for _, c := range []struct {
		method, path, token, body string
		status                    int
	}{
		{"POST", "/v1/admin/reconciliation/runs", "", "", 401},
		{"POST", "/v1/admin/reconciliation/runs", buyer, "{}", 403},
		{"POST", "/v1/admin/reconciliation/runs", adminToken, `{"kind":"x"}`, 400},
		{"GET", "/v1/admin/reconciliation/runs", adminToken, "", 200},
		{"GET", "/v1/admin/reconciliation/runs?limit=x", adminToken, "", 400},
		{"GET", "/v1/admin/reconciliation/runs", "", "", 401},
		{"GET", "/v1/admin/reconciliation/runs", buyer, "", 403},
		{"GET", "/v1/admin/reconciliation/runs/" + run.ID, adminToken, "", 200},
		{"GET", "/v1/admin/reconciliation/runs/" + run.ID, "", "", 401},
		{"GET", "/v1/admin/reconciliation/runs/" + run.ID, buyer, "", 403},
		{"GET", "/v1/admin/reconciliation/runs/x", adminToken, "", 404},
		{"GET", "/v1/admin/reconciliation/mismatches?check=x", adminToken, "", 400},
		{"GET", "/v1/admin/reconciliation/mismatches", "", "", 401},
		{"GET", "/v1/admin/reconciliation/mismatches", buyer, "", 403},
		{"GET", m, adminToken, "", 200},
		{"GET", m, "", "", 401},
		{"GET", m, buyer, "", 403},
		{"GET", "/v1/admin/reconciliation/mismatches/0", adminToken, "", 404},
		{"POST", m + "/resolve", "", `{"note":"n"}`, 401},
		{"POST", m + "/resolve", buyer, `{"note":"n"}`, 403},
		{"POST", m + "/resolve", adminToken, `{}`, 400},
		{"POST", "/v1/admin/reconciliation/mismatches/0/resolve", adminToken, `{"note":"n"}`, 404},
		{"POST", m + "/resolve", adminToken, `{"note":"spec"}`, 200},
		{"POST", m + "/resolve", adminToken, `{"note":"spec"}`, 409},
		{"GET", "/v1/admin/reconciliation/flags", adminToken, "", 200},
		{"GET", "/v1/admin/reconciliation/flags?limit=0", adminToken, "", 400},
		{"GET", "/v1/admin/reconciliation/flags", "", "", 401},
		{"GET", "/v1/admin/reconciliation/flags", buyer, "", 403},
		{"GET", "/v1/admin/orders/o1/flag", adminToken, "", 200},
		{"GET", "/v1/admin/orders/" + strings.Repeat("o", 41) + "/flag", adminToken, "", 400},
		{"GET", "/v1/admin/orders/o1/flag", "", "", 401},
		{"GET", "/v1/admin/orders/o1/flag", buyer, "", 403},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		expect(t, e.do(c.method, c.path, c.token, body), c.status, "")
	}
}

// runReconciliation starts a run through the API, waits for it and
// returns it finished.
func (e *env) runReconciliation(r *reconcile.Runner, kind string) reconcile.Run {
	e.t.Helper()
	resp := e.do("POST", "/v1/admin/reconciliation/runs", adminToken, map[string]any{"kind": kind})
	expect(e.t, resp, 202, "")
	started := decodeJSON[reconcile.Run](e.t, resp)
	if started.Status != reconcile.RunRunning || started.Kind != kind {
		e.t.Fatalf("started %+v", started)
	}
	r.Wait()
	resp = e.do("GET", "/v1/admin/reconciliation/runs/"+started.ID, adminToken, nil)
	expect(e.t, resp, 200, "")
	run := decodeJSON[reconcile.Run](e.t, resp)
	if run.Status != reconcile.RunSucceeded || run.FinishedAt == nil {
		e.t.Fatalf("run %+v", run)
	}
	return run
}

// openMismatches lists the open mismatches through the API, two a page.
func (e *env) openMismatches() []api.MismatchView {
	e.t.Helper()
	var all []api.MismatchView
	cursor := ""
	for range 1000 {
		path := "/v1/admin/reconciliation/mismatches?status=open&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp := e.do("GET", path, adminToken, nil)
		expect(e.t, resp, 200, "")
		page := decodeJSON[api.MismatchList](e.t, resp)
		if len(page.Mismatches) > 2 {
			e.t.Fatalf("page of %d for limit 2", len(page.Mismatches))
		}
		all = append(all, page.Mismatches...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	e.t.Fatal("the cursor never ends")
	return nil
}

func (e *env) sql(query string, args ...any) {
	e.t.Helper()
	if err := e.st.DB(e.t.Context()).Exec(query, args...).Error; err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// TestReconciliationFindsPlantedMismatches plants one mismatch of each
// kind in the database, behind the platform's back, and expects each
// reported with its evidence, its order flagged, and an operator able to
// resolve it.
func TestReconciliationFindsPlantedMismatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, r := reconcileEnv(t, st)
		e.skuW("widget", 1000, "tools", 500, 100)
		alice := e.principal("alice", "buyer")
		paidOrder := func(key string) string {
			o := e.place(alice, key, retailBody("widget", 2))
			expect(t, e.pay(alice, o.ID, key+"-pay", cardOK), 200, "")
			return o.ID
		}
		held, owed, silent := paidOrder("held"), paidOrder("owed"), paidOrder("silent")
		cancelled := e.place(alice, "cancelled", retailBody("widget", 1)).ID
		e.fire(alice, cancelled, "cancel", nil)

		if run := e.runReconciliation(r, reconcile.KindFull); run.Found != 0 || run.Orders != 4 {
			t.Fatalf("a clean database: %+v, %+v", run, e.openMismatches())
		}

		// Stock counters: 7 more sellable than was ever put in.
		e.sql("UPDATE tmf_stock_slots SET sellable = sellable + 7 WHERE sku = ?", "widget")
		// Stock vs order: a paid order set back to unpaid holds frozen stock.
		e.sql("UPDATE tmf_orders SET status = ? WHERE id = ?", "pending_payment", held)
		// Money: the order owes 100 more than was captured.
		e.sql("UPDATE tmf_orders SET total = total + 100 WHERE id = ?", owed)
		// Coupons: an order cancelled before payment still holds a coupon;
		// a budget's buckets hold money its ledger never granted.
		now := time.Now().UTC()
		if err := st.DB(t.Context()).Create(&promotion.Coupon{Code: "LOST", PromotionID: "p1", State: promotion.CouponUsed,
			OrderID: cancelled, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.DB(t.Context()).Create(&promotion.CouponMove{Code: "LOST", OrderID: cancelled, Kind: promotion.MoveUse,
			PromotionID: "p1", BuyerID: "alice", CreatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.DB(t.Context()).Create(&promotion.BudgetBucket{PromotionID: "ghost", Bucket: 0, Remaining: 500, Currency: "CNY",
			UpdatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		// Outbox: the payment of an order lost its event.
		e.sql("DELETE FROM tmf_outbox_events WHERE aggregate_id = ? AND version = 2", silent)

		run := e.runReconciliation(r, reconcile.KindFull)
		found := map[string]api.MismatchView{}
		for _, m := range e.openMismatches() {
			found[m.Check+" "+m.Issue+" "+m.Subject] = m
			if m.FirstRunID != run.ID || m.LastRunID != run.ID || m.Detail == "" || len(m.Evidence) < 3 {
				t.Errorf("mismatch %+v (evidence %s)", m, m.Evidence)
			}
		}
		evidence := func(key string) map[string]any {
			m, ok := found[key]
			if !ok {
				t.Fatalf("no mismatch %q among %v", key, keys(found))
			}
			var ev map[string]any
			if err := json.Unmarshal(m.Evidence, &ev); err != nil {
				t.Fatal(err)
			}
			return ev
		}
		var total float64
		for _, tc := range []struct {
			key   string
			check func(ev map[string]any) bool
		}{
			{"stock slot.total slot:widget@default/", func(ev map[string]any) bool {
				return ev["actual"].(float64)-ev["ledger"].(float64) == 7
			}},
			{"stock order_stock_missing order:" + held, func(ev map[string]any) bool {
				return ev["wantReserved"] == 2.0 && ev["reserved"] == 0.0 && ev["frozen"] == 2.0
			}},
			{"money owed_mismatch order:" + owed, func(ev map[string]any) bool {
				total = ev["captured"].(float64)
				return ev["owed"].(float64) == total+100
			}},
			{"promotion held_by_cancelled coupon:LOST", func(ev map[string]any) bool {
				return ev["orderId"] == cancelled && ev["cancelledBeforePayment"] == true
			}},
			{"promotion budget_total promotion:ghost", func(ev map[string]any) bool {
				return ev["buckets"] == 500.0 && ev["ledger"] == 0.0
			}},
			{"outbox event_missing order:" + silent + "@2", func(ev map[string]any) bool {
				return ev["orderId"] == silent && ev["version"] == 2.0 && ev["to"] != ""
			}},
		} {
			if ev := evidence(tc.key); !tc.check(ev) {
				t.Errorf("%s: evidence %v", tc.key, ev)
			}
		}
		if run.New != run.Found || run.New < 6 {
			t.Errorf("run %+v", run)
		}

		// The orders are flagged for an operator.
		for _, id := range []string{held, owed, silent, cancelled} {
			resp := e.do("GET", "/v1/admin/orders/"+id+"/flag", adminToken, nil)
			expect(t, resp, 200, "")
			if f := decodeJSON[api.OrderFlagView](t, resp); !f.Flagged || f.Flag == nil || f.Flag.MismatchID == 0 {
				t.Errorf("flag of %s: %+v", id, f)
			}
		}

		// A second run reports the same mismatches and opens none.
		if again := e.runReconciliation(r, reconcile.KindFull); again.New != 0 || again.Found != run.Found {
			t.Errorf("second run %+v, first %+v", again, run)
		}

		// An operator resolves the money mismatch: audited, the flag goes.
		m := found["money owed_mismatch order:"+owed]
		path := fmt.Sprintf("/v1/admin/reconciliation/mismatches/%d/resolve", m.ID)
		resp := e.do("POST", path, adminToken, map[string]any{"note": "total fixed by hand"})
		expect(t, resp, 200, "")
		if v := decodeJSON[api.MismatchView](t, resp); v.Status != reconcile.StatusResolved || v.ResolvedBy != "root" ||
			v.ResolvedAt == nil || v.Note != "total fixed by hand" {
			t.Errorf("resolved %+v", v)
		}
		expect(t, e.do("POST", path, adminToken, map[string]any{"note": "again"}), 409, api.CodeMismatchResolved)
		resp = e.do("GET", "/v1/admin/orders/"+owed+"/flag", adminToken, nil)
		if f := decodeJSON[api.OrderFlagView](t, resp); f.Flagged {
			t.Errorf("flag of %s after resolution: %+v", owed, f)
		}
		resp = e.do("GET", "/v1/admin/audit?targetType=reconciliation_mismatch", adminToken, nil)
		expect(t, resp, 200, "")
		if !strings.Contains(string(resp.raw), "total fixed by hand") {
			t.Errorf("no audit entry of the resolution: %s", resp)
		}

		// Metrics for alerting.
		resp = e.do("GET", "/metrics", "", nil)
		for _, want := range []string{`tmf_reconcile_open_mismatches{check="outbox"} 1`, `tmf_reconcile_last_run_success 1`,
			`tmf_reconcile_runs_total{kind="full",outcome="succeeded"} 3`} {
			if !strings.Contains(string(resp.raw), want) {
				t.Errorf("metrics lack %q", want)
			}
		}

		// An incremental run reads the orders changed since the last run
		// (less the overlap): it finds the fresh order's lost event, and
		// reopens the money mismatch resolved without a fix.
		fresh := paidOrder("fresh")
		e.sql("DELETE FROM tmf_outbox_events WHERE aggregate_id = ? AND version = 2", fresh)
		inc := e.runReconciliation(r, reconcile.KindIncremental)
		if inc.Since == nil || inc.HighWater == nil || inc.New != 2 {
			t.Errorf("incremental run %+v", inc)
		}
		resp = e.do("GET", "/v1/admin/reconciliation/mismatches?runId="+inc.ID+"&check=outbox&orderId="+fresh, adminToken, nil)
		if l := decodeJSON[api.MismatchList](t, resp); len(l.Mismatches) != 1 || l.Mismatches[0].Issue != reconcile.IssueEventMissing {
			t.Errorf("incremental findings %s", resp)
		}

		// Runs are listed newest first, with paging.
		resp = e.do("GET", "/v1/admin/reconciliation/runs?limit=2", adminToken, nil)
		expect(t, resp, 200, "")
		runs := decodeJSON[api.RunList](t, resp)
		if len(runs.Runs) != 2 || runs.Runs[0].ID != inc.ID || runs.NextCursor == "" {
			t.Fatalf("runs %s", resp)
		}
		resp = e.do("GET", "/v1/admin/reconciliation/runs?limit=2&cursor="+runs.NextCursor, adminToken, nil)
		if more := decodeJSON[api.RunList](t, resp); len(more.Runs) != 2 || more.NextCursor != "" || more.Runs[0].ID == inc.ID {
			t.Fatalf("second page %s", resp)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestReconciliationAPIRefusals: every refusal is problem+json with its code.
func TestReconciliationAPIRefusals(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	e, _ := reconcileEnv(t, st)
	alice := e.principal("alice", "buyer")
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"bad kind", "POST", "/v1/admin/reconciliation/runs", adminToken, `{"kind":"weekly"}`, 400, api.CodeInvalidRequest},
		{"unknown field", "POST", "/v1/admin/reconciliation/runs", adminToken, `{"kind":"full","x":1}`, 400, api.CodeUnknownField},
		{"a buyer", "POST", "/v1/admin/reconciliation/runs", alice, `{}`, 403, api.CodeForbidden},
		{"anonymous", "GET", "/v1/admin/reconciliation/runs", "", nil, 401, api.CodeUnauthenticated},
		{"bad limit", "GET", "/v1/admin/reconciliation/runs?limit=0", adminToken, nil, 400, api.CodeInvalidLimit},
		{"bad run cursor", "GET", "/v1/admin/reconciliation/runs?cursor=zz", adminToken, nil, 400, api.CodeInvalidCursor},
		{"unknown run", "GET", "/v1/admin/reconciliation/runs/0000000000000000ffffffffffffffff", adminToken, nil, 404, api.CodeRunNotFound},
		{"malformed run id", "GET", "/v1/admin/reconciliation/runs/nope", adminToken, nil, 404, api.CodeRunNotFound},
		{"bad status", "GET", "/v1/admin/reconciliation/mismatches?status=closed", adminToken, nil, 400, api.CodeInvalidRequest},
		{"bad check", "GET", "/v1/admin/reconciliation/mismatches?check=karma", adminToken, nil, 400, api.CodeInvalidRequest},
		{"bad mismatch cursor", "GET", "/v1/admin/reconciliation/mismatches?cursor=-1", adminToken, nil, 400, api.CodeInvalidCursor},
		{"unknown mismatch", "GET", "/v1/admin/reconciliation/mismatches/999", adminToken, nil, 404, api.CodeMismatchNotFound},
		{"resolve unknown", "POST", "/v1/admin/reconciliation/mismatches/999/resolve", adminToken, `{"note":"x"}`, 404, api.CodeMismatchNotFound},
		{"resolve without note", "POST", "/v1/admin/reconciliation/mismatches/1/resolve", adminToken, `{}`, 400, api.CodeInvalidRequest},
		{"note too long", "POST", "/v1/admin/reconciliation/mismatches/1/resolve", adminToken,
			map[string]any{"note": strings.Repeat("n", 1001)}, 400, ""},
		{"bad flag cursor", "GET", "/v1/admin/reconciliation/flags?cursor=" + strings.Repeat("x", 41), adminToken, nil, 400, api.CodeInvalidCursor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.with(t).do(tc.method, tc.path, tc.token, tc.body)
			expect(t, resp, tc.status, tc.code)
		})
	}
	// Without a runner the endpoints answer 503.
	plain := newEnv(t, storetest.Open(t, "sqlite"))
	expect(t, plain.do("GET", "/v1/admin/reconciliation/runs", adminToken, nil), 503, api.CodeReconcileDisabled)
}

// TestReconciliationAfterConcurrentLoad races buyers placing, paying and
// cancelling orders of one SKU (and cancelling paid ones, refunded), then
// expects a full reconciliation to find nothing.
func TestReconciliationAfterConcurrentLoad(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, r := reconcileEnv(t, st)
		e.skuW("gadget", 700, "tools", 500, 12)
		const buyers = 8
		tokens := make([]string, buyers)
		for i := range tokens {
			tokens[i] = e.principal(fmt.Sprintf("buyer%d", i), "buyer")
		}
		var wg sync.WaitGroup
		for i, tok := range tokens {
			wg.Go(func() {
				for j := range 3 {
					key := fmt.Sprintf("load-%d-%d", i, j)
					resp := e.do("POST", "/v1/orders", tok, retailBody("gadget", 1), "Idempotency-Key", key)
					if resp.status != 201 {
						continue // out of stock, or contention: both leave nothing behind
					}
					id := decodeView(t, resp).ID
					switch (i + j) % 3 {
					case 0:
						e.pay(tok, id, key+"-pay", cardOK)
					case 1:
						e.do("POST", "/v1/orders/"+id+"/events", tok, map[string]any{"event": "cancel"})
					case 2:
						e.pay(tok, id, key+"-pay", cardOK)
						e.do("POST", "/v1/orders/"+id+"/events", tok, map[string]any{"event": "cancel"})
					}
				}
			})
		}
		wg.Wait()
		e.relayRefunds()
		run, err := r.Run(t.Context(), reconcile.KindFull, "test")
		if err != nil {
			t.Fatal(err)
		}
		if run.Found != 0 || run.Orders == 0 {
			t.Fatalf("run %+v: %v", run, e.openMismatches())
		}
		t.Logf("full run of %d orders: %s", run.Orders, run.FinishedAt.Sub(run.StartedAt))
	})
}
