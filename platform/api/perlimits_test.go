package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// phoneIdentity is the body of PUT /v1/admin/identities/topup.phone: a
// top-up (virtual-goods with attrpack, whose phone attribute is required)
// resolved by category phonetopup, with the given limits.
func phoneIdentity(limits ...map[string]any) map[string]any {
	return map[string]any{"name": "Top-up by phone", "products": []map[string]any{{"name": "virtual-goods"}},
		"bizpacks": []map[string]any{{"name": "attrpack"}}, "purchaseLimits": limits,
		"rules": []map[string]any{{"category": "phonetopup"}}}
}

func phoneBody(phone string) map[string]any {
	return map[string]any{"items": []map[string]any{{"sku": "phone-topup", "quantity": 1}}, "attributes": map[string]any{"phone": phone}}
}

// problemsSay reports whether a config_invalid answer names a
// purchase_limits problem containing want.
func problemsSay(t *testing.T, r reply, want string) bool {
	t.Helper()
	var p struct {
		Problems []struct{ Kind, Message string }
	}
	if err := json.Unmarshal(r.raw, &p); err != nil {
		t.Fatal(err)
	}
	for _, pr := range p.Problems {
		if pr.Kind == "purchase_limits" && strings.Contains(pr.Message, want) {
			return true
		}
	}
	return false
}

// TestPurchaseLimitPerAttribute: a limit per order attribute counts the
// orders that carry one value together whoever pays, is refused by the
// admin identity API when the attribute is not declared and required, and
// gives back on cancel and timeout; a limit per org counts the buyers of
// one organisation node together.
func TestPurchaseLimitPerAttribute(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, _ := newAttrEnv(t, st)
		e.sku("phone-topup", 5000, "phonetopup", true, 1000)
		day := "day:" + time.Now().UTC().Format(time.DateOnly)
		perPhone := map[string]any{"name": "per-phone", "scope": "identity", "window": "day", "per": "attr:phone", "max": 2}
		perAccount := map[string]any{"name": "per-account", "scope": "identity", "window": "day", "measure": "amount", "currency": "CNY", "max": 15000}

		// The attribute must be declared and required where the limit binds.
		for _, tc := range []struct{ per, want string }{
			{"attr:note", `counts per order attribute "note", which attrpack declares for identity topup.phone but does not require`},
			{"attr:imei", `counts per order attribute "imei", which identity topup.phone does not declare`},
			{"attr:", `per "attr:": an attribute name is`},
			{"phone", `per "phone" must be buyer, org or attr:<attribute name>`},
		} {
			r := e.putIdentity(adminToken, "topup.phone", phoneIdentity(map[string]any{"name": "bad", "scope": "identity", "window": "day", "per": tc.per, "max": 1}), "")
			expect(t, r, 422, "config_invalid")
			if !problemsSay(t, r, tc.want) {
				t.Fatalf("per %s: %s does not say %q", tc.per, r, tc.want)
			}
		}
		expect(t, e.putIdentity(adminToken, "topup.phone", phoneIdentity(perPhone, perAccount), ""), 201, "")
		if v, _ := e.identity("topup.phone"); len(v.PurchaseLimits) != 2 || v.PurchaseLimits[0].Per != "attr:phone" || v.PurchaseLimits[1].Per != "" {
			t.Fatalf("limits read back: %+v", v.PurchaseLimits)
		}

		alice, bob, carol := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("carol", "buyer")
		n := 0
		place := func(token string, body any) reply {
			n++
			return e.do("POST", "/v1/orders", token, body, "Idempotency-Key", fmt.Sprintf("per-%d", n))
		}
		const phoneA, phoneB = "+8613800000001", "+8613800000002"
		a1 := decodeView(t, place(alice, phoneBody(phoneA)))
		if a1.BizCode != "topup.phone" {
			t.Fatalf("resolved to %s", a1.BizCode)
		}
		b1 := decodeView(t, place(bob, phoneBody(phoneA)))
		// A third account cannot top up phone A today: the phone has had 2.
		r := place(carol, phoneBody(phoneA))
		expect(t, r, 409, order.CodePurchaseLimit)
		if p := r.json(t); p["limitName"] != "per-phone" || p["per"] != "attr:phone" || p["used"] != 2.0 || p["requested"] != 1.0 || p["window"] != day {
			t.Fatalf("refusal %s", r)
		}
		// Another phone is counted on its own; alice's account limit still
		// counts per buyer (5000 + 5000 of 15000).
		expect(t, place(alice, phoneBody(phoneB)), 201, "")
		r = place(alice, phoneBody("+8613800000003"))
		expect(t, r, 201, "")
		r = place(alice, phoneBody("+8613800000004"))
		expect(t, r, 409, order.CodePurchaseLimit)
		if p := r.json(t); p["limitName"] != "per-account" || p["per"] != "buyer" || p["used"] != 15000.0 {
			t.Fatalf("account refusal %s", r)
		}
		used := func(limit, holder string) int64 {
			t.Helper()
			u, err := st.PurchaseUsed(t.Context(), "topup.phone/"+limit, holder, "identity", day)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		if got := used("per-phone", "attr:phone="+phoneA); got != 2 {
			t.Fatalf("phone A's counter %d, want 2", got)
		}
		if got := used("per-phone", "alice"); got != 0 {
			t.Fatalf("a per-phone counter keyed by the buyer holds %d", got)
		}

		// Cancelled, bob's order gives phone A its top-up back (and bob's
		// account its amount); carol may then top it up.
		e.fire(bob, b1.ID, "cancel", nil)
		if got := used("per-phone", "attr:phone="+phoneA); got != 1 {
			t.Fatalf("phone A's counter %d after a cancel, want 1", got)
		}
		c1 := decodeView(t, place(carol, phoneBody(phoneA)))
		expect(t, place(bob, phoneBody(phoneA)), 409, order.CodePurchaseLimit)
		// Timed out, likewise.
		if _, err := e.svc.TimeOut(t.Context(), c1.ID, "system"); err != nil {
			t.Fatal(err)
		}
		expect(t, place(bob, phoneBody(phoneA)), 201, "")
		if got := used("per-phone", "attr:phone="+phoneA); got != 2 {
			t.Fatalf("phone A's counter %d, want 2", got)
		}
		_ = a1

		// Per org: the buyers of one node share the limit; a buyer without
		// a node is counted on their own.
		for _, org := range []string{`{"id":"hq"}`, `{"id":"east","parent":"hq"}`, `{"id":"west","parent":"hq"}`} {
			expect(t, e.do("POST", "/v1/admin/orgs", adminToken, org), 201, "")
		}
		expect(t, e.putIdentity(adminToken, "limited.shop", map[string]any{"name": "Shops", "products": []map[string]any{{"name": "standard-retail"}},
			"purchaseLimits": []map[string]any{{"name": "per-shop", "scope": "sku", "window": "lifetime", "per": "org", "max": 2}},
			"rules":          []map[string]any{{"category": "shopcat"}}}, ""), 201, "")
		e.sku("shop-1", 1000, "shopcat", false, 100)
		frank, grace, heidi := e.principalIn("frank", "east", "buyer"), e.principalIn("grace", "east", "buyer"), e.principalIn("heidi", "west", "buyer")
		shop := func(token string, qty int) reply { return place(token, limitedBody("shop-1", qty)) }
		expect(t, shop(frank, 1), 201, "")
		expect(t, shop(grace, 1), 201, "")
		r = shop(grace, 1)
		expect(t, r, 409, order.CodePurchaseLimit)
		if p := r.json(t); p["per"] != "org" || p["used"] != 2.0 || p["sku"] != "shop-1" {
			t.Fatalf("org refusal %s", r)
		}
		expect(t, shop(heidi, 2), 201, "")
		expect(t, shop(alice, 2), 201, "")
		expect(t, shop(alice, 1), 409, order.CodePurchaseLimit)
		for holder, want := range map[string]int64{"org=east": 2, "org=west": 2, "alice": 2, "frank": 0} {
			if u, _ := st.PurchaseUsed(t.Context(), "limited.shop/per-shop", holder, "sku:shop-1", "lifetime"); u != want {
				t.Errorf("per-shop counter of %s: %d, want %d", holder, u, want)
			}
		}
	})
}

// TestPurchaseLimitPerAttributeRace: 50 buyers top up one phone number at
// once under a limit of one per phone: exactly one order is placed, on
// every database; cancelled, it gives the phone its top-up back.
func TestPurchaseLimitPerAttributeRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, _ := newAttrEnv(t, st)
		e.sku("phone-topup", 5000, "phonetopup", true, 1000)
		expect(t, e.putIdentity(adminToken, "topup.phone", phoneIdentity(
			map[string]any{"name": "one-per-phone", "scope": "identity", "window": "lifetime", "per": "attr:phone", "max": 1}), ""), 201, "")
		const racers = 50
		tokens := make([]string, racers)
		for i := range racers {
			tokens[i] = e.principal(fmt.Sprintf("racer-%02d", i), "buyer")
		}
		var wg sync.WaitGroup
		codes := make([]string, racers)
		statuses := make([]int, racers)
		ids := make([]string, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				r := e.do("POST", "/v1/orders", tokens[i], phoneBody("+8613900000000"), "Idempotency-Key", fmt.Sprintf("race-%d", i))
				statuses[i], codes[i] = r.status, r.code()
				if r.status == 201 {
					var v struct{ ID string }
					_ = json.Unmarshal(r.raw, &v)
					ids[i] = v.ID
				}
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range racers {
			switch {
			case statuses[i] == 201:
				if winner >= 0 {
					t.Errorf("racers %d and %d both placed an order", winner, i)
				}
				winner = i
			case statuses[i] == 409 && codes[i] == order.CodePurchaseLimit:
			default:
				t.Errorf("racer %d: %d %s", i, statuses[i], codes[i])
			}
		}
		if winner < 0 {
			t.Fatal("no racer placed an order")
		}
		if all := e.orders(adminToken, "", 100); len(all) != 1 {
			t.Fatalf("%d orders stored, want 1", len(all))
		}
		if u, _ := st.PurchaseUsed(t.Context(), "topup.phone/one-per-phone", "attr:phone=+8613900000000", "identity", "lifetime"); u != 1 {
			t.Fatalf("the phone's counter is %d, want 1", u)
		}
		// Cancelled, the order gives the phone back: another racer may
		// top it up, and then no one.
		e.fire(tokens[winner], ids[winner], "cancel", nil)
		other := (winner + 1) % racers
		expect(t, e.do("POST", "/v1/orders", tokens[other], phoneBody("+8613900000000"), "Idempotency-Key", "after-cancel"), 201, "")
		expect(t, e.do("POST", "/v1/orders", tokens[winner], phoneBody("+8613900000000"), "Idempotency-Key", "after-cancel-2"), 409, order.CodePurchaseLimit)
	})
}
