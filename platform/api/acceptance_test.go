package api_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// 500 buyers race for 100 units: exactly 100 orders, 400 out_of_stock
// refusals, and the stock accounts for every unit.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) { neverOversell(t, newEnv(t, st)) })
}

// neverOversell is the body of TestConcurrentOrdersNeverOversell, for any setup (storedb_test.go runs it
// with stock in its own database).
func neverOversell(t *testing.T, e *env) {
	e.sku("hot", 1990, "kitchen", false, 100)
	tokens := make([]string, 10)
	for i := range tokens {
		tokens[i] = e.principal(fmt.Sprintf("buyer-%d", i), "buyer")
	}

	const requests = 500
	replies := make([]reply, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			replies[i] = e.do("POST", "/v1/orders", tokens[i%len(tokens)], retailBody("hot", 1),
				"Idempotency-Key", fmt.Sprintf("race-%d", i))
		})
	}
	wg.Wait()

	placed, refused := 0, 0
	for _, r := range replies {
		switch {
		case r.status == 201:
			placed++
		case r.status == 409 && r.code() == "out_of_stock" && r.header.Get("Content-Type") == "application/problem+json":
			if sku, _ := r.json(t)["sku"].(string); sku != "hot" {
				t.Fatalf("out_of_stock without the sku: %s", r)
			}
			refused++
		default:
			t.Fatalf("unexpected answer %s\nserver log: %s", r, lastLines(e.logs.String(), logLines))
		}
	}
	if placed != 100 || refused != 400 {
		t.Fatalf("%d placed, %d refused; want 100 and 400", placed, refused)
	}
	if s := e.stock("hot"); s.Sellable != 0 || s.Reserved != 100 || s.Frozen != 0 || s.Shipped != 0 {
		t.Fatalf("stock %+v; want sellable 0, reserved 100", s)
	}
	if got := len(e.orders(adminToken, "", 100)); got != 100 {
		t.Fatalf("%d orders listed; want 100", got)
	}
}

// 50 retries of one request with one Idempotency-Key place one order; every
// answer is the order (the original or a byte-identical replay) or "still
// running". Another body under the key is refused.
func TestIdempotencyKeyUnderConcurrency(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) { oneKeyOneOrder(t, newEnv(t, st)) })
}

// oneKeyOneOrder is the body of TestIdempotencyKeyUnderConcurrency, for any setup (storedb_test.go runs it
// with stock in its own database).
func oneKeyOneOrder(t *testing.T, e *env) {
	e.sku("kettle", 4500, "kitchen", false, 1000)
	buyer := e.principal("alice", "buyer")
	body := []byte(`{"items":[{"sku":"kettle","quantity":2}],"shippingAddress":{"region":"CN-31"}}`)

	const retries = 50
	replies := make([]reply, retries)
	var wg sync.WaitGroup
	for i := range retries {
		wg.Go(func() { replies[i] = e.do("POST", "/v1/orders", buyer, body, "Idempotency-Key", "same-key") })
	}
	wg.Wait()

	var first []byte
	created, replayed := 0, 0
	for _, r := range replies {
		switch {
		case r.status == 201:
			if first == nil {
				first = r.raw
			} else if !bytes.Equal(first, r.raw) {
				t.Fatalf("two different 201 bodies:\n%s\n%s", first, r.raw)
			}
			if r.header.Get("Idempotent-Replayed") == "true" {
				replayed++
			} else {
				created++
			}
		case r.status == 409 && r.code() == "idempotency_in_progress":
		default:
			t.Fatalf("unexpected answer %s\nserver log: %s", r, lastLines(e.logs.String(), logLines))
		}
	}
	if created != 1 {
		t.Fatalf("%d original answers (and %d replays); want exactly 1", created, replayed)
	}
	orders := e.orders(buyer, "", 100)
	if len(orders) != 1 {
		t.Fatalf("%d orders; want 1", len(orders))
	}

	// After the race, the key replays the order byte for byte.
	r := e.do("POST", "/v1/orders", buyer, body, "Idempotency-Key", "same-key")
	expect(t, r, 201, "")
	if r.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r.raw, first) ||
		r.header.Get("Location") != "/v1/orders/"+orders[0].ID {
		t.Fatalf("replay: %s, headers %v", r, r.header)
	}
	if v := decodeView(t, r); v.ID != orders[0].ID {
		t.Fatalf("replayed %s; the order is %s", v.ID, orders[0].ID)
	}
	if s := e.stock("kettle"); s.Reserved != 2 {
		t.Fatalf("stock %+v; want 2 reserved", s)
	}

	// Same key, another body.
	r = e.do("POST", "/v1/orders", buyer, `{"items":[{"sku":"kettle","quantity":3}],"shippingAddress":{"region":"CN-31"}}`,
		"Idempotency-Key", "same-key")
	expect(t, r, 422, "idempotency_key_reused")

	// Keys belong to their principal: bob's "same-key" is his own.
	bob := e.principal("bob", "buyer")
	r = e.do("POST", "/v1/orders", bob, body, "Idempotency-Key", "same-key")
	expect(t, r, 201, "")
	if r.header.Get("Idempotent-Replayed") != "" || decodeView(t, r).BuyerID != "bob" {
		t.Fatalf("bob's order: %s %v", r, r.header)
	}
}

// 20 concurrent payments of one order, half under one key and half under
// keys of their own, charge the card once: every success is that one
// payment, every other answer "in progress" or "already paid".
func TestConcurrentPaymentsChargeOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 10)
		alice := e.principal("alice", "buyer")
		o := e.place(alice, "o-1", retailBody("kettle", 1))

		const payers = 20
		replies := make([]reply, payers)
		var wg sync.WaitGroup
		for i := range payers {
			key := "same"
			if i%2 == 1 {
				key = fmt.Sprintf("own-%d", i)
			}
			wg.Go(func() { replies[i] = e.pay(alice, o.ID, key, cardOK) })
		}
		wg.Wait()
		paymentID := ""
		for _, r := range replies {
			switch {
			case r.status == 200:
				res := decodeJSON[order.PayResult](t, r)
				if paymentID == "" {
					paymentID = res.Payment.ID
				}
				if res.Payment.ID != paymentID || res.Payment.State != "succeeded" {
					t.Fatalf("two payments: %s and %s", paymentID, r)
				}
			case r.status == 409 && (r.code() == "payment_in_progress" || r.code() == "event_not_allowed"):
			default:
				t.Fatalf("unexpected answer %s\nserver log: %s", r, lastLines(e.logs.String(), logLines))
			}
		}
		if paymentID == "" {
			t.Fatal("no payment succeeded")
		}
		if got := paymentSummary(e.payments(alice, o.ID)); !slices.Equal(got, []string{fmt.Sprintf("charge:succeeded:%d", o.Amounts.Total)}) {
			t.Fatalf("payments %v", got)
		}
		r := e.do("GET", "/v1/orders/"+o.ID, alice, nil)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.Status != "pending_outbound" || v.Version != 2 {
			t.Fatalf("order %+v", v)
		}
		if s := e.stock("kettle"); s.Frozen != 1 || s.Reserved != 0 || s.Sellable != 9 {
			t.Fatalf("stock %+v", s)
		}
	})
}
