package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Every bad request is a 4xx problem with its code, never a 500, and leaves
// nothing behind: no order, no stock moved, no idempotency key taken.
func TestBadInputsAreProblemsAndWriteNothing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) { badInputsWriteNothing(t, newEnv(t, st)) })
}

// badInputsWriteNothing is the body of TestBadInputsAreProblemsAndWriteNothing, for any setup (storedb_test.go runs it
// with stock in its own database).
func badInputsWriteNothing(t *testing.T, e *env) {
	e.sku("mug", 1200, "kitchen", false, 5)
	e.sku("topup-50", 4980, "topup", true, 100)
	r := e.do("PUT", "/v1/skus/usd-cap", adminToken, map[string]any{"title": "Cap", "price": 900, "currency": "USD"})
	expect(t, r, 200, "")
	expect(t, e.do("PUT", "/v1/stock/usd-cap", adminToken, map[string]any{"sellable": 5}), 200, "")
	buyer := e.principal("alice", "buyer")

	item := `{"sku":"mug","quantity":1}`
	addr := `"shippingAddress":{"region":"CN-31"}`
	order := func(fields string) string { return `{"items":[` + item + `],` + addr + fields + `}` }
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`{"sku":"s%d","quantity":1}`, i)
	}
	huge := `{"items":[` + item + `],"paymentMethod":"` + strings.Repeat("a", 1<<20) + `"}`

	for _, tc := range []struct {
		name    string
		body    string
		headers []string // replaces the default Idempotency-Key
		status  int
		code    string
		field   string
	}{
		{"malformed JSON", `{"items":[`, nil, 400, "malformed_json", ""},
		{"not JSON", `hello`, nil, 400, "malformed_json", ""},
		{"empty body", ``, nil, 400, "malformed_json", ""},
		{"trailing data", order("") + ` {}`, nil, 400, "trailing_data", ""},
		{"not an object", `[]`, nil, 400, "invalid_type", "body"},
		{"unknown field", order(`,"colour":"red"`), nil, 400, "unknown_field", "colour"},
		{"unknown nested field", `{"items":[{"sku":"mug","quantity":1,"gift":true}],` + addr + `}`, nil, 400, "unknown_field", "items[0].gift"},
		{"field names are exact", `{"Items":[` + item + `],` + addr + `}`, nil, 400, "unknown_field", "Items"},
		{"client unit price", `{"items":[{"sku":"mug","quantity":1,"unitPrice":1}],` + addr + `}`, nil, 400, "client_price_rejected", "items[0].unitPrice"},
		{"client price", `{"items":[{"sku":"mug","quantity":1,"price":1}],` + addr + `}`, nil, 400, "client_price_rejected", "items[0].price"},
		{"client line total", `{"items":[{"sku":"mug","quantity":1,"lineTotal":1}],` + addr + `}`, nil, 400, "client_price_rejected", "items[0].lineTotal"},
		{"client total", order(`,"total":1`), nil, 400, "client_price_rejected", "total"},
		{"client amounts", order(`,"amounts":{"total":1}`), nil, 400, "client_price_rejected", "amounts"},
		{"client status", order(`,"status":"completed"`), nil, 400, "client_price_rejected", "status"},
		{"client discount", order(`,"discount":500`), nil, 400, "client_price_rejected", "discount"},
		{"client freight deep", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","freight":0}}`, nil, 400, "client_price_rejected", "shippingAddress.freight"},
		{"a price wins over another unknown field", order(`,"aaa":1,"subtotal":1`), nil, 400, "client_price_rejected", "subtotal"},
		{"control character in an address", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","line1":"a\u0000b"}}`, nil, 400, "invalid_text", "shippingAddress.line1"},
		{"line break in an address", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31\nX-Forged: 1"}}`, nil, 400, "invalid_text", "shippingAddress.region"},
		{"escape sequence in a channel", order(`,"channel":"\u001b[31mred"`), nil, 400, "invalid_text", "channel"},
		{"address too long", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","line1":"` + strings.Repeat("x", 1001) + `"}}`, nil, 400, "invalid_text", "shippingAddress.line1"},
		{"quantity as string", `{"items":[{"sku":"mug","quantity":"1"}],` + addr + `}`, nil, 400, "invalid_type", "items[0].quantity"},
		{"fractional quantity", `{"items":[{"sku":"mug","quantity":1.5}],` + addr + `}`, nil, 400, "invalid_type", "items[0].quantity"},
		{"items as object", `{"items":{"sku":"mug"},` + addr + `}`, nil, 400, "invalid_type", "items"},
		{"bizCode as number", order(`,"bizCode":5`), nil, 400, "invalid_type", "bizCode"},
		{"address as string", `{"items":[` + item + `],"shippingAddress":"Shanghai"}`, nil, 400, "invalid_type", "shippingAddress"},
		{"null quantity", `{"items":[{"sku":"mug","quantity":null}],` + addr + `}`, nil, 400, "invalid_type", "items[0].quantity"},
		{"zero quantity", `{"items":[{"sku":"mug","quantity":0}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"negative quantity", `{"items":[{"sku":"mug","quantity":-1}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"quantity over the limit", `{"items":[{"sku":"mug","quantity":10001}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"quantity beyond int64", `{"items":[{"sku":"mug","quantity":99999999999999999999}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"quantity below int64", `{"items":[{"sku":"mug","quantity":-99999999999999999999}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"quantity 1e30", `{"items":[{"sku":"mug","quantity":1e30}],` + addr + `}`, nil, 400, "invalid_quantity", "items[0].quantity"},
		{"no items", `{"items":[],` + addr + `}`, nil, 400, "invalid_items", "items"},
		{"items missing", `{` + addr + `}`, nil, 400, "invalid_items", "items"},
		{"101 items", `{"items":[` + strings.Join(many, ",") + `],` + addr + `}`, nil, 400, "invalid_items", "items"},
		{"malformed SKU", `{"items":[{"sku":"a b","quantity":1}],` + addr + `}`, nil, 400, "invalid_request", "items[0].sku"},
		{"recipient name too long", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","name":"` + strings.Repeat("n", 101) + `"}}`, nil, 400, "invalid_request", "shippingAddress.name"},
		{"phone with letters", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","phone":"call me"}}`, nil, 400, "invalid_request", "shippingAddress.phone"},
		{"phone without digits", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","phone":"+ -"}}`, nil, 400, "invalid_request", "shippingAddress.phone"},
		{"phone too long", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","phone":"` + strings.Repeat("1", 33) + `"}}`, nil, 400, "invalid_request", "shippingAddress.phone"},
		{"country not alpha-2", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","country":"CHN"}}`, nil, 400, "invalid_request", "shippingAddress.country"},
		{"country in lower case", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","country":"cn"}}`, nil, 400, "invalid_request", "shippingAddress.country"},
		{"country not assigned", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","country":"UK"}}`, nil, 400, "invalid_request", "shippingAddress.country"},
		{"line2 too long", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","line2":"` + strings.Repeat("é", 201) + `"}}`, nil, 400, "invalid_request", "shippingAddress.line2"},
		{"control character in the name", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","name":"Li\nLei"}}`, nil, 400, "invalid_text", "shippingAddress.name"},
		{"control character in line1", `{"items":[` + item + `],"shippingAddress":{"region":"CN-31","line1":"1 Bund\u0000"}}`, nil, 400, "invalid_text", "shippingAddress.line1"},
		{"region too long", `{"items":[` + item + `],"shippingAddress":{"region":"` + strings.Repeat("r", 65) + `"}}`, nil, 400, "invalid_request", "shippingAddress.region"},
		{"body over 1 MiB", huge, nil, 413, "body_too_large", ""},
		{"not JSON content", order(""), []string{"Content-Type", "text/plain", "Idempotency-Key", "k-ct"}, 415, "unsupported_media_type", ""},
		{"missing Idempotency-Key", order(""), []string{"Idempotency-Key", ""}, 400, "idempotency_key_missing", ""},
		{"Idempotency-Key too long", order(""), []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "idempotency_key_invalid", ""},
		{"Idempotency-Key not ASCII", order(""), []string{"Idempotency-Key", "clé"}, 400, "idempotency_key_invalid", ""},
		// Refusals of the order service, after the key was claimed: it is released.
		{"unknown SKU", `{"items":[{"sku":"nope","quantity":1}],` + addr + `}`, []string{"Idempotency-Key", "unknown-sku"}, 422, "sku_not_found", ""},
		{"one SKU twice", `{"items":[` + item + `,` + item + `],` + addr + `}`, nil, 400, "invalid_order", ""},
		{"no address (the product vetoes)", `{"items":[` + item + `]}`, nil, 422, "order_rejected", ""},
		// A buyer may not choose an identity: an unknown one reads alike.
		{"unknown identity", order(`,"bizCode":"nope"`), nil, 403, "identity_not_allowed", ""},
		{"payment method not offered", order(`,"paymentMethod":"bitcoin"`), nil, 422, "payment_method_unavailable", ""},
		{"mixed currencies", `{"items":[` + item + `,{"sku":"usd-cap","quantity":1}],` + addr + `}`, nil, 422, "mixed_currency", ""},
		{"vetoed by a product", `{"items":[{"sku":"topup-50","quantity":11}]}`, nil, 422, "order_rejected", ""},
		{"more than in stock", `{"items":[{"sku":"mug","quantity":6}],` + addr + `}`, []string{"Idempotency-Key", "too-many"}, 409, "out_of_stock", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			headers := tc.headers
			if headers == nil {
				headers = []string{"Idempotency-Key", "bad-" + tc.name}
			}
			r := e.do("POST", "/v1/orders", buyer, tc.body, headers...)
			expect(t, r, tc.status, tc.code)
			p := r.json(t)
			if p["type"] != "https://tmf.dev/problems/"+tc.code || p["status"] != float64(tc.status) || p["title"] == "" || p["detail"] == "" {
				t.Fatalf("not a complete problem: %s", r)
			}
			if tc.field != "" && p["field"] != tc.field {
				t.Fatalf("field %v; want %s (%s)", p["field"], tc.field, r)
			}
		})
	}

	for _, tc := range []struct {
		query string
		code  string
	}{
		{"limit=0", "invalid_limit"}, {"limit=-1", "invalid_limit"}, {"limit=101", "invalid_limit"},
		{"limit=abc", "invalid_limit"}, {"limit=", "invalid_limit"}, {"limit=1.5", "invalid_limit"},
		{"cursor=garbage!", "invalid_cursor"}, {"cursor=Zm9v", "invalid_cursor"}, {"cursor=", "invalid_cursor"},
		{"status=bogus", "invalid_request"}, {"status=PENDING_PAYMENT", "invalid_request"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			e := e.with(t)
			r := e.do("GET", "/v1/orders?"+tc.query, buyer, nil)
			expect(t, r, 400, tc.code)
			if tc.code == "invalid_request" && r.json(t)["field"] != "status" {
				t.Fatalf("a bad status must be named: %s", r)
			}
		})
	}

	t.Run("nothing was written", func(t *testing.T) {
		e := e.with(t)
		if got := e.orders(adminToken, "", 100); len(got) != 0 {
			t.Fatalf("%d orders exist", len(got))
		}
		for sku, want := range map[string]int64{"mug": 5, "topup-50": 100, "usd-cap": 5} {
			if s := e.stock(sku); s.Sellable != want || s.Reserved != 0 {
				t.Fatalf("%s: %+v; want %d sellable and nothing reserved", sku, s, want)
			}
		}
		// No key was kept: refused before the claim, or released after it.
		for _, key := range []string{"bad-malformed JSON", "bad-client total", "bad-quantity beyond int64", "unknown-sku", "too-many"} {
			r := e.do("POST", "/v1/orders", buyer, order(""), "Idempotency-Key", key)
			expect(t, r, 201, "")
			if r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("%s replayed", key)
			}
		}
	})
}
