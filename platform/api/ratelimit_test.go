package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Requests are limited per principal (admins aside) and, without
// credentials, per address; failed authentications from one address turn
// into 429s once too many, while a valid token keeps working.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"), func(c *api.Config) {
		c.RateLimits = api.RateLimits{PrincipalRate: 0.01, PrincipalBurst: 3, AddressRate: 0.01, AddressBurst: 3,
			AuthFailures: 3, AuthFailureWindow: time.Minute, AuthBlock: time.Minute}
	})
	alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")

	for range 3 {
		expect(t, e.do("GET", "/v1/orders", alice, nil), 200, "")
	}
	r := e.do("GET", "/v1/orders", alice, nil)
	expect(t, r, 429, "rate_limited")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	expect(t, e.do("GET", "/v1/orders", bob, nil), 200, "")
	for range 10 {
		expect(t, e.do("GET", "/v1/admin/principals", adminToken, nil), 200, "")
	}

	for range 3 {
		expect(t, e.do("GET", "/healthz", "", nil), 200, "")
	}
	expect(t, e.do("GET", "/healthz", "", nil), 429, "rate_limited")

	for range 3 {
		expect(t, e.do("GET", "/v1/me", "guessed-token", nil), 401, "unauthenticated")
	}
	r = e.do("GET", "/v1/me", "guessed-token-2", nil)
	expect(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After on a throttled authentication")
	}
	expect(t, e.do("GET", "/v1/me", bob, nil), 200, "")
}
