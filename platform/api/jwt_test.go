package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authn"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// JWT bearer tokens through the API: the verifier of platform/authn in
// front of the same policy as opaque tokens.

const (
	jwtIssuer   = "https://idp.tmf.test"
	jwtAudience = "tmf-api"
)

var jwtSecret = []byte("a-test-secret-of-at-least-32-bytes-for-hs256")

// jwtKeys are two RSA keys: k1 is trusted, k2 is trusted under its own kid,
// rogue is trusted under none. Generated once: 2048-bit keys are slow.
var jwtKeys = sync.OnceValue(func() map[string]*rsa.PrivateKey {
	out := map[string]*rsa.PrivateKey{}
	for _, kid := range []string{"k1", "k2", "rogue"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[kid] = k
	}
	return out
})

// jwtClaims are valid claims for sub, changed by set (a nil value removes
// the claim).
func jwtClaims(sub string, set map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "sub": sub, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range set {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func signHS256(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRS256 signs with key under the kid header (none for "").
func signRS256(t *testing.T, kid string, key *rsa.PrivateKey, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withJWT makes the env's server verify JWTs: HS256, and RS256 with the
// keys k1 and k2.
func withJWT(t *testing.T) func(*api.Config) {
	keys := jwtKeys()
	v, err := authn.New(authn.Config{Issuer: jwtIssuer, Audience: jwtAudience, HS256Secret: jwtSecret,
		RS256Keys: map[string]*rsa.PublicKey{"k1": &keys["k1"].PublicKey, "k2": &keys["k2"].PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *api.Config) { c.JWT = v }
}

func TestJWTThroughTheAPI(t *testing.T) {
	keys := jwtKeys()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, withJWT(t))
		//	hq ─┬─ east ── sh-01  (alice)
		//	    └─ west ── cd-01  (bob)
		for _, o := range [][2]string{{"hq", ""}, {"east", "hq"}, {"sh-01", "east"}, {"west", "hq"}, {"cd-01", "west"}} {
			newOrgNode(e, o[0], o[1])
		}
		paths := map[string]string{"hq": "/hq/", "east": "/hq/east/", "sh-01": "/hq/east/sh-01/", "west": "/hq/west/",
			"cd-01": "/hq/west/cd-01/"}
		alice := newPrincipalAt(e, "alice", "sh-01", nil, "buyer")
		bob := newPrincipalAt(e, "bob", "cd-01", nil, "buyer")
		e.sku("mug", 1200, "kitchen", false, 100)

		owners := map[string]string{} // order id → owning node
		place := func(token, key string) string {
			t.Helper()
			r := e.do("POST", "/v1/orders", token, retailBody("mug", 1), "Idempotency-Key", key)
			expect(t, r, 201, "")
			v := decodeView(t, r)
			owners[v.ID] = v.OwnerOrg
			return v.ID
		}
		alice1, alice2, bob1 := place(alice, "a-1"), place(alice, "a-2"), place(bob, "b-1")

		// A buyer known only to the identity provider places an order: it
		// is owned at the node of the token's org claim.
		jwtBuyer := signHS256(t, jwtClaims("jwt-buyer", map[string]any{"roles": []string{"buyer"}, "org": "sh-01"}))
		jwtOrder := place(jwtBuyer, "j-1")
		if owners[jwtOrder] != "sh-01" {
			t.Fatalf("the JWT buyer's order is owned by %q", owners[jwtOrder])
		}
		under := func(node string) []string {
			var out []string
			for id, owner := range owners {
				if strings.HasPrefix(paths[owner], paths[node]) {
					out = append(out, id)
				}
			}
			slices.Sort(out)
			return out
		}
		all := slices.Sorted(maps.Keys(owners))

		for _, tc := range []struct {
			name  string
			token string
			// lists are the orders the caller lists, nil when it is refused.
			lists []string
			// reads: order → status of GET /v1/orders/{id}.
			reads map[string]int
		}{
			{name: "HS256 agent with an org claim sees its subtree",
				token: signHS256(t, jwtClaims("jwt-agent", map[string]any{"roles": []string{"agent"}, "org": "east"})),
				lists: under("east"), reads: map[string]int{alice1: 200, jwtOrder: 200, bob1: 404}},
			{name: "HS256 agent at HQ sees the whole tree",
				token: signHS256(t, jwtClaims("jwt-hq", map[string]any{"roles": "agent", "org": "hq"})),
				lists: all, reads: map[string]int{alice1: 200, bob1: 200}},
			{name: "RS256 agent with kid k1 sees its subtree",
				token: signRS256(t, "k1", keys["k1"], jwtClaims("rs-agent", map[string]any{"roles": []string{"agent"}, "org": "west"})),
				lists: under("west"), reads: map[string]int{bob1: 200, alice1: 404, jwtOrder: 404}},
			{name: "RS256 with kid k2 verifies with k2",
				token: signRS256(t, "k2", keys["k2"], jwtClaims("rs-agent-2", map[string]any{"roles": []string{"agent"}, "org": "sh-01"})),
				lists: under("sh-01"), reads: map[string]int{alice2: 200, bob1: 404}},
			{name: "the buyer of the claims sees its own orders",
				token: signHS256(t, jwtClaims("jwt-buyer", map[string]any{"roles": []string{"buyer"}})),
				lists: []string{jwtOrder}, reads: map[string]int{jwtOrder: 200, alice1: 404}},
			{name: "a token without roles is the stored principal of its sub",
				token: signRS256(t, "k1", keys["k1"], jwtClaims("bob", nil)),
				lists: []string{bob1}, reads: map[string]int{bob1: 200, alice1: 404}},
			// Its principal is jwt:bob, not the stored bob: it does not act
			// as bob (bob's own orders, bob's credit).
			{name: "a token with roles is a principal apart from the stored one of its sub",
				token: signHS256(t, jwtClaims("bob", map[string]any{"roles": []string{"agent"}, "org": "east"})),
				lists: under("east"), reads: map[string]int{alice1: 200, bob1: 404}},
			{name: "a buyer token naming a stored buyer's id is not that buyer",
				token: signHS256(t, jwtClaims("alice", map[string]any{"roles": []string{"buyer"}})),
				lists: []string{}, reads: map[string]int{alice1: 404, alice2: 404}},
			{name: "an agent whose org is not in the tree has no subtree",
				token: signHS256(t, jwtClaims("lost-agent", map[string]any{"roles": []string{"agent"}, "org": "atlantis"})),
				lists: []string{}, reads: map[string]int{alice1: 404, bob1: 404}},
			{name: "an operator granted retail sees every retail order",
				token: signHS256(t, jwtClaims("jwt-ops", map[string]any{"roles": []string{"operator"}, "identities": []string{"retail"}})),
				lists: all, reads: map[string]int{alice1: 200, bob1: 200}},
			{name: "an operator granted b2b sees no retail order",
				token: signHS256(t, jwtClaims("jwt-ops-b2b", map[string]any{"roles": []string{"operator"}, "identities": []string{"b2b"}})),
				lists: []string{}, reads: map[string]int{alice1: 404}},
			{name: "opaque tokens still work", token: alice,
				lists: []string{alice1, alice2}, reads: map[string]int{alice1: 200, bob1: 404}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				for id, status := range tc.reads {
					r := e.do("GET", "/v1/orders/"+id, tc.token, nil)
					if status == 404 {
						expect(t, r, 404, "order_not_found")
					} else {
						expect(t, r, status, "")
					}
				}
				got := orderIDs(e.orders(tc.token, "", 2))
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tc.lists))
				if !slices.Equal(got, want) {
					t.Errorf("lists %v; want %v", got, want)
				}
			})
		}

		// Roles from the token reach function-level decisions too.
		admin := signHS256(t, jwtClaims("jwt-admin", map[string]any{"roles": []string{"admin"}}))
		expect(t, e.do("GET", "/v1/admin/orgs", admin, nil), 200, "")
		expect(t, e.do("GET", "/v1/admin/orgs", jwtBuyer, nil), 403, "forbidden")
		expect(t, e.do("GET", "/v1/credit", jwtBuyer, nil), 403, "forbidden")

		// Refused tokens: 401 unauthenticated with a Bearer challenge that
		// says "invalid token" and nothing else; the reason is logged.
		rogue := keys["rogue"]
		for _, tc := range []struct {
			name, token, detail string
		}{
			{"wrong issuer", signHS256(t, jwtClaims("alice", map[string]any{"iss": "https://evil.test"})), "wrong issuer"},
			{"wrong audience", signHS256(t, jwtClaims("alice", map[string]any{"aud": "another-api"})), "wrong audience"},
			{"expired", signHS256(t, jwtClaims("alice", map[string]any{"iat": time.Now().Add(-2 * time.Hour).Unix(),
				"exp": time.Now().Add(-time.Hour).Unix()})), "expired"},
			{"no exp", signHS256(t, jwtClaims("alice", map[string]any{"exp": nil})), "exp"},
			{"unknown sub without roles", signHS256(t, jwtClaims("ghost", nil)), "ghost"},
			{"unknown role", signHS256(t, jwtClaims("alice", map[string]any{"roles": []string{"buyer", "superuser"}})), "superuser"},
			{"HS256 with another secret", mustSign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes-long"),
				jwtClaims("alice", map[string]any{"roles": []string{"admin"}})), "signature"},
			{"RS256 with an untrusted key under a trusted kid", signRS256(t, "k1", rogue,
				jwtClaims("alice", map[string]any{"roles": []string{"admin"}})), "signature"},
			{"RS256 with an unknown kid", signRS256(t, "rogue", rogue, jwtClaims("alice", map[string]any{"roles": []string{"admin"}})), "kid"},
			{"RS256 without kid among several keys", signRS256(t, "", keys["k1"], jwtClaims("alice", nil)), "kid"},
			{"alg none", mustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
				jwtClaims("alice", map[string]any{"roles": []string{"admin"}})), "none"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				for _, req := range []struct{ method, path, body string }{
					{"GET", "/v1/orders/" + alice1, ""},
					{"GET", "/v1/orders", ""},
					{"POST", "/v1/orders/" + alice1 + "/events", `{"event":"cancel"}`},
					{"GET", "/v1/admin/orgs", ""},
				} {
					var body any
					if req.body != "" {
						body = req.body
					}
					r := e.do(req.method, req.path, tc.token, body)
					expect(t, r, 401, "unauthenticated")
					if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Errorf("WWW-Authenticate %q", got)
					}
					if d, _ := r.json(t)["detail"].(string); d != "invalid token" {
						t.Errorf("detail %q tells more than that the token is invalid", d)
					}
				}
				logged := false
				for _, l := range e.logs.lines() {
					if m, _ := l["msg"].(string); strings.HasPrefix(m, "JWT refused") &&
						strings.Contains(strings.ToLower(string(mustJSONLine(t, l))), tc.detail) {
						logged = true
					}
				}
				if !logged {
					t.Errorf("the reason %q was not logged", tc.detail)
				}
			})
		}
		// Nothing the refused tokens sent moved alice's order.
		r := e.do("GET", "/v1/orders/"+alice1, alice, nil)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.Status != "pending_payment" || v.Version != 1 {
			t.Fatalf("alice's order after the refusals: %+v", v)
		}
	})
}

func mustJSONLine(t *testing.T, l map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustSign signs claims with any method and key.
func mustSign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
