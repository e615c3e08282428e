package authn_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tmf-platform/tmf/platform/authn"
)

func mustNew(t testing.TB, c authn.Config) *authn.Verifier {
	t.Helper()
	v, err := authn.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestVerify(t *testing.T) {
	keys := testKeys()
	k1, k2, stranger := keys[0], keys[1], keys[2]
	base := authn.Config{Issuer: testIssuer, Audience: testAudience}

	hsCfg := base
	hsCfg.HS256Secret = testSecret
	hs := mustNew(t, hsCfg)

	rsCfg := base
	rsCfg.RS256Keys = map[string]*rsa.PublicKey{"k1": &k1.PublicKey, "k2": &k2.PublicKey}
	rs := mustNew(t, rsCfg)

	rsNoKidCfg := base
	rsNoKidCfg.RS256Keys = map[string]*rsa.PublicKey{"": &k1.PublicKey}
	rsNoKid := mustNew(t, rsNoKidCfg)

	rsOneCfg := base
	rsOneCfg.RS256Keys = map[string]*rsa.PublicKey{"k1": &k1.PublicKey}
	rsOne := mustNew(t, rsOneCfg)

	bothCfg := rsOneCfg
	bothCfg.HS256Secret = testSecret
	both := mustNew(t, bothCfg)

	strictCfg := hsCfg
	strictCfg.Leeway = time.Second
	strict := mustNew(t, strictCfg)

	customCfg := hsCfg
	customCfg.RolesClaim, customCfg.OrgClaim, customCfg.IdentitiesClaim = "tmf_roles", "https://tmf.example/org", "bizCodes"
	custom := mustNew(t, customCfg)

	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	hs256 := func(set map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, testSecret, nil, claimsWith(set))
	}
	rs256 := func(key *rsa.PrivateKey, kid any, set map[string]any) string {
		return sign(t, jwt.SigningMethodRS256, key, map[string]any{"kid": kid}, claimsWith(set))
	}
	pubPKIX := pkixPEM(t, &k1.PublicKey, nil)
	pubPKCS1 := pkcs1PEM(&k1.PublicKey, nil)

	valid := hs256(map[string]any{"exp": exp})
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + strings.Split(hs256(map[string]any{"exp": exp, "sub": "mallory"}), ".")[1] + "." + parts[2]

	type want struct {
		claims authn.Claims
		err    string // substring of the error; "" when the token is valid
	}
	ok := func(sub string) want { return want{claims: authn.Claims{Subject: sub, ExpiresAt: time.Unix(exp, 0)}} }
	with := func(w want, f func(*authn.Claims)) want { f(&w.claims); return w }
	fail := func(msg string) want { return want{err: msg} }

	tests := []struct {
		name  string
		v     *authn.Verifier
		token string
		want  want
	}{
		// Valid tokens.
		{"valid HS256", hs, hs256(map[string]any{"exp": exp, "roles": []string{"buyer", "agent"}, "org": "/0/22/29", "identities": []string{"virtual.topup", "retail"}}),
			with(ok("alice"), func(c *authn.Claims) {
				c.Roles, c.HasRoles, c.Org, c.Identities = []string{"buyer", "agent"}, true, "/0/22/29", []string{"virtual.topup", "retail"}
			})},
		{"valid RS256 with kid", rs, rs256(k2, "k2", map[string]any{"exp": exp}), ok("alice")},
		{"valid RS256 without kid, key under empty kid", rsNoKid, rs256(k1, nil, map[string]any{"exp": exp}), ok("alice")},
		{"valid RS256 without kid, only key", rsOne, rs256(k1, nil, map[string]any{"exp": exp}), ok("alice")},
		{"valid RS256 with explicit empty kid", rsNoKid, rs256(k1, "", map[string]any{"exp": exp}), ok("alice")},
		{"both configured, HS256", both, hs256(map[string]any{"exp": exp}), ok("alice")},
		{"both configured, RS256", both, rs256(k1, "k1", map[string]any{"exp": exp}), ok("alice")},
		{"subject charset", hs, hs256(map[string]any{"exp": exp, "sub": "agent-7.b@east:x_y"}), ok("agent-7.b@east:x_y")},
		{"audience array containing ours", hs, hs256(map[string]any{"exp": exp, "aud": []string{"other", testAudience}}), ok("alice")},
		{"expired within leeway", hs, hs256(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}),
			want{claims: authn.Claims{Subject: "alice", ExpiresAt: time.Unix(now.Add(-10*time.Second).Unix(), 0)}}},
		{"nbf within leeway", hs, hs256(map[string]any{"exp": exp, "nbf": now.Add(10 * time.Second).Unix()}), ok("alice")},
		{"nbf past", hs, hs256(map[string]any{"exp": exp, "nbf": now.Add(-time.Minute).Unix()}), ok("alice")},

		// Issuer, audience, times.
		{"wrong issuer", hs, hs256(map[string]any{"iss": "https://evil.example"}), fail(`wrong issuer "https://evil.example": expected "https://idp.example"`)},
		{"missing issuer", hs, hs256(map[string]any{"iss": nil}), fail(`missing iss: expected "https://idp.example"`)},
		{"wrong audience", hs, hs256(map[string]any{"aud": "billing"}), fail(`wrong audience ["billing"]: expected "tmf-api"`)},
		{"audience array without ours", hs, hs256(map[string]any{"aud": []string{"billing", "crm"}}), fail(`wrong audience ["billing" "crm"]`)},
		{"missing audience", hs, hs256(map[string]any{"aud": nil}), fail(`missing aud: expected "tmf-api"`)},
		{"audience of wrong type", hs, hs256(map[string]any{"aud": []any{"tmf-api", 7}}), fail(`claim "aud" has the wrong type`)},
		{"expired", hs, hs256(map[string]any{"exp": now.Add(-time.Hour).Unix()}),
			fail("expired at " + time.Unix(now.Add(-time.Hour).Unix(), 0).UTC().Format(time.RFC3339))},
		{"expired beyond a short leeway", strict, hs256(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), fail("expired at")},
		{"not yet valid", hs, hs256(map[string]any{"nbf": now.Add(time.Hour).Unix()}), fail("not valid before")},
		{"issued in the future", hs, hs256(map[string]any{"iat": now.Add(time.Hour).Unix()}), fail("issued in the future")},
		{"missing exp", hs, hs256(map[string]any{"exp": nil}), fail("missing exp")},
		{"exp of wrong type", hs, hs256(map[string]any{"exp": "tomorrow"}), fail(`claim "exp" has the wrong type`)},
		{"several problems at once", hs, hs256(map[string]any{"iss": "x", "aud": "y"}), fail(`wrong issuer "x": expected "https://idp.example"; wrong audience ["y"]`)},

		// Subject.
		{"missing sub", hs, hs256(map[string]any{"sub": nil}), fail("missing sub")},
		{"empty sub", hs, hs256(map[string]any{"sub": ""}), fail("missing sub")},
		{"sub with a space", hs, hs256(map[string]any{"sub": "al ice"}), fail(`claim "sub" must be 1..128 characters`)},
		{"sub too long", hs, hs256(map[string]any{"sub": strings.Repeat("a", 129)}), fail(`claim "sub" must be 1..128 characters`)},
		{"sub of wrong type", hs, hs256(map[string]any{"sub": 42}), fail(`claim "sub" has the wrong type`)},

		// Algorithms and keys.
		{"alg none", hs, unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, claimsWith(nil), ""), fail(`algorithm "none" not accepted; accepted: HS256`)},
		{"alg none with a signature", rs, unsigned(t, map[string]any{"alg": "none"}, claimsWith(nil), "c2ln"), fail(`algorithm "none" not accepted; accepted: RS256`)},
		{"no alg", hs, unsigned(t, map[string]any{"typ": "JWT"}, claimsWith(nil), "c2ln"), fail("the token header has no alg")},
		{"unknown alg", hs, unsigned(t, map[string]any{"alg": "XS999"}, claimsWith(nil), "c2ln"), fail(`algorithm "XS999" not accepted`)},
		{"alg confusion: HS256 keyed with the PKIX public key PEM", rs,
			sign(t, jwt.SigningMethodHS256, pubPKIX, map[string]any{"kid": "k1"}, claimsWith(nil)), fail(`algorithm "HS256" not accepted; accepted: RS256`)},
		{"alg confusion: HS256 keyed with the PKCS1 public key PEM", rsNoKid,
			sign(t, jwt.SigningMethodHS256, pubPKCS1, nil, claimsWith(nil)), fail(`algorithm "HS256" not accepted`)},
		{"alg confusion with both algorithms configured", both,
			sign(t, jwt.SigningMethodHS256, pubPKIX, map[string]any{"kid": "k1"}, claimsWith(nil)), fail("bad signature")},
		{"RS256 when only HS256 is configured", hs, rs256(k1, "k1", nil), fail(`algorithm "RS256" not accepted; accepted: HS256`)},
		{"HS384 is not HS256", hs, sign(t, jwt.SigningMethodHS384, testSecret, nil, claimsWith(nil)), fail(`algorithm "HS384" not accepted`)},
		{"RS512 is not RS256", rs, sign(t, jwt.SigningMethodRS512, k1, map[string]any{"kid": "k1"}, claimsWith(nil)), fail(`algorithm "RS512" not accepted`)},
		{"unknown kid", rs, rs256(k1, "k9", nil), fail(`unknown kid "k9"`)},
		{"kid given but only a kid-less key", rsNoKid, rs256(k1, "k1", nil), fail(`unknown kid "k1"`)},
		{"no kid with several keys", rs, rs256(k1, nil, nil), fail("no kid header")},
		{"kid of wrong type", rs, rs256(k1, 1, nil), fail("kid header must be a string")},
		{"RS256 signed by another key", rs, rs256(stranger, "k1", nil), fail("bad signature")},
		{"RS256 signed by the other trusted key", rs, rs256(k2, "k1", nil), fail("bad signature")},
		{"HS256 signed with another secret", hs, sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), nil, claimsWith(nil)), fail("bad signature")},
		{"tampered payload", hs, tampered, fail("bad signature")},
		{"signature stripped", hs, parts[0] + "." + parts[1] + ".", fail("bad signature")},
		{"claims looked at only after the signature", hs,
			sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), nil, claimsWith(map[string]any{"iss": "x", "exp": nil})), fail("bad signature")},

		// Malformed.
		{"empty", hs, "", fail("malformed")},
		{"two segments", hs, "a.b", fail("malformed")},
		{"four segments", hs, valid + ".x", fail("malformed")},
		{"garbage", hs, "not a token at all", fail("malformed")},
		{"opaque token", hs, "q8m3Vt0_kCq-1dI3Y9Zb1F4wX5nS2eR7uT6yH0jK9lM", fail("malformed")},
		{"not base64url", hs, "a+b.c/d.e", fail("malformed")},
		{"header not JSON", hs, "bm90anNvbg.e30.c2ln", fail("malformed")},
		{"payload not an object", hs, parts[0] + ".WzFd." + parts[2], fail("malformed")},
		{"too long", hs, parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2], fail("longer than")},

		// Caller claims.
		{"roles absent", hs, hs256(map[string]any{"exp": exp}), ok("alice")},
		{"roles as a string", hs, hs256(map[string]any{"exp": exp, "roles": "admin"}),
			with(ok("alice"), func(c *authn.Claims) { c.Roles, c.HasRoles = []string{"admin"}, true })},
		{"roles as an empty array", hs, hs256(map[string]any{"exp": exp, "roles": []string{}}),
			with(ok("alice"), func(c *authn.Claims) { c.Roles, c.HasRoles = []string{}, true })},
		{"roles as a number", hs, hs256(map[string]any{"roles": 3}), fail(`claim "roles" has the wrong type: expected a string or an array of strings`)},
		{"roles with a number inside", hs, hs256(map[string]any{"roles": []any{"buyer", 3}}), fail(`claim "roles" has the wrong type`)},
		{"roles null", hs, hs256(map[string]any{"roles": []any(nil)}), fail(`claim "roles" has the wrong type`)},
		{"roles with an empty entry", hs, hs256(map[string]any{"roles": []string{"buyer", ""}}), fail(`claim "roles": every entry must be 1..128 characters`)},
		{"identities as a string", hs, hs256(map[string]any{"identities": "retail"}), fail(`claim "identities" has the wrong type: expected an array of strings`)},
		{"identities with an object inside", hs, hs256(map[string]any{"identities": []any{map[string]any{}}}), fail(`claim "identities" has the wrong type`)},
		{"org as a number", hs, hs256(map[string]any{"org": 22}), fail(`claim "org" has the wrong type`)},
		{"org too long", hs, hs256(map[string]any{"org": strings.Repeat("n", 129)}), fail(`claim "org" is longer than 128`)},
		{"custom claim names", custom, hs256(map[string]any{"exp": exp,
			"tmf_roles": []string{"operator"}, "https://tmf.example/org": "/0/9", "bizCodes": []string{"b2b"},
			"roles": 7, "org": 8, "identities": 9}), // the default names are ordinary claims now
			with(ok("alice"), func(c *authn.Claims) {
				c.Roles, c.HasRoles, c.Org, c.Identities = []string{"operator"}, true, "/0/9", []string{"b2b"}
			})},
		{"custom roles claim of wrong type", custom, hs256(map[string]any{"tmf_roles": 1}), fail(`claim "tmf_roles" has the wrong type`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.v.Verify(tc.token)
			if tc.want.err != "" {
				if err == nil {
					t.Fatalf("Verify accepted the token: %+v", got)
				}
				if !errors.Is(err, authn.ErrInvalidToken) {
					t.Errorf("error %v does not wrap ErrInvalidToken", err)
				}
				if !strings.Contains(err.Error(), tc.want.err) {
					t.Errorf("error %q does not say %q", err, tc.want.err)
				}
				for _, secret := range []string{string(testSecret), "BEGIN", string(pubPKIX[30:80])} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows key material", err)
					}
				}
				if !reflectZero(got) {
					t.Errorf("claims returned with an error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertClaims(t, got, tc.want.claims)
		})
	}
}

func reflectZero(c authn.Claims) bool {
	return c.Subject == "" && c.Roles == nil && !c.HasRoles && c.Org == "" && c.Identities == nil && c.ExpiresAt.IsZero()
}

func assertClaims(t *testing.T, got, want authn.Claims) {
	t.Helper()
	if got.Subject != want.Subject || got.HasRoles != want.HasRoles || got.Org != want.Org ||
		!slices.Equal(got.Roles, want.Roles) || (got.Roles == nil) != (want.Roles == nil) ||
		!slices.Equal(got.Identities, want.Identities) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("claims\n got %+v\nwant %+v", got, want)
	}
}

// The verifier keeps its own copy of the secret and key map.
func TestNewCopiesConfig(t *testing.T) {
	k1, k2 := testKeys()[0], testKeys()[1]
	secret := append([]byte(nil), testSecret...)
	keys := map[string]*rsa.PublicKey{"k1": &k1.PublicKey}
	v := mustNew(t, authn.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: secret, RS256Keys: keys})
	secret[0] ^= 0xff
	keys["k1"] = &k2.PublicKey
	keys["k2"] = &k2.PublicKey

	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, nil, claimsWith(nil))); err != nil {
		t.Errorf("HS256 after the caller changed its secret: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k1, map[string]any{"kid": "k1"}, claimsWith(nil))); err != nil {
		t.Errorf("RS256 after the caller changed its key map: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k2, map[string]any{"kid": "k2"}, claimsWith(nil))); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("a key added to the caller's map after New was trusted: %v", err)
	}
}

func TestNew(t *testing.T) {
	k1 := testKeys()[0]
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ok := authn.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: testSecret}
	change := func(f func(*authn.Config)) authn.Config { c := ok; f(&c); return c }

	tests := []struct {
		name string
		c    authn.Config
		err  string // "" when New accepts c
	}{
		{"HS256 only", ok, ""},
		{"RS256 only", change(func(c *authn.Config) { c.HS256Secret, c.RS256Keys = nil, map[string]*rsa.PublicKey{"": &k1.PublicKey} }), ""},
		{"both", change(func(c *authn.Config) { c.RS256Keys = map[string]*rsa.PublicKey{"k1": &k1.PublicKey} }), ""},
		{"leeway at its maximum", change(func(c *authn.Config) { c.Leeway = authn.MaxLeeway }), ""},
		{"secret of exactly 32 bytes", change(func(c *authn.Config) { c.HS256Secret = testSecret[:32] }), ""},
		{"custom claim names", change(func(c *authn.Config) { c.RolesClaim, c.OrgClaim, c.IdentitiesClaim = "r", "o", "i" }), ""},

		{"short secret", change(func(c *authn.Config) { c.HS256Secret = testSecret[:31] }), "HS256Secret must be at least 32 bytes, it has 31"},
		{"no key", change(func(c *authn.Config) { c.HS256Secret = nil }), "a key is required"},
		{"empty key map and no secret", change(func(c *authn.Config) { c.HS256Secret, c.RS256Keys = nil, map[string]*rsa.PublicKey{} }), "a key is required"},
		{"no issuer", change(func(c *authn.Config) { c.Issuer = "" }), "Issuer is required"},
		{"blank issuer", change(func(c *authn.Config) { c.Issuer = "  " }), "Issuer is required"},
		{"no audience", change(func(c *authn.Config) { c.Audience = "" }), "Audience is required"},
		{"nil RSA key", change(func(c *authn.Config) { c.RS256Keys = map[string]*rsa.PublicKey{"k": nil} }), `RS256 key "k" is nil`},
		{"short RSA key", change(func(c *authn.Config) { c.RS256Keys = map[string]*rsa.PublicKey{"k": &short.PublicKey} }), `RS256 key "k" has 1024 bits`},
		{"negative leeway", change(func(c *authn.Config) { c.Leeway = -time.Second }), "Leeway must be between"},
		{"leeway over 5m", change(func(c *authn.Config) { c.Leeway = authn.MaxLeeway + time.Second }), "Leeway must be between"},
		{"claim name is registered", change(func(c *authn.Config) { c.RolesClaim = "sub" }), `RolesClaim "sub" is a registered JWT claim`},
		{"claim names clash", change(func(c *authn.Config) { c.OrgClaim = "roles" }), `RolesClaim and OrgClaim are both "roles"`},
		{"every problem named", authn.Config{HS256Secret: []byte("short")}, "Issuer is required; Audience is required; HS256Secret must be at least 32 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := authn.New(tc.c)
			if tc.err == "" {
				if err != nil || v == nil {
					t.Fatalf("New refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted the config")
			}
			if v != nil {
				t.Errorf("New returned a verifier with an error")
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q does not say %q", err, tc.err)
			}
			if strings.Contains(err.Error(), string(testSecret[:16])) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, testSecret, nil, claimsWith(nil))
	tests := []struct {
		token string
		want  bool
	}{
		{tok, true},
		{"eyJhbGciOiJub25lIn0.e30.", true}, // empty signature: still a JWT, refused by Verify
		{"a.b.c", true},
		{"", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{".b.c", false},
		{"a..c", false},
		{"q8m3Vt0_kCq-1dI3Y9Zb1F4wX5nS2eR7uT6yH0jK9lM", false}, // an opaque token
		{"a+b.c.d", false},
		{"a.b.c=", false},
		{"a b.c.d", false},
	}
	for _, tc := range tests {
		if got := authn.LooksLikeJWT(tc.token); got != tc.want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", tc.token, got, tc.want)
		}
	}
}

// A crit header is refused (this verifier understands no extension, RFC
// 7515 §4.1.11), and so is a token valid for longer than MaxLifetime.
func TestVerifyCritAndLifetime(t *testing.T) {
	cfg := authn.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: testSecret}
	v := mustNew(t, cfg)
	cfg.MaxLifetime = 10 * time.Minute
	short := mustNew(t, cfg)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		v      *authn.Verifier
		header map[string]any
		claims map[string]any
		want   string // "" accepts
	}{
		{"an hour", v, nil, nil, ""},
		{"crit", v, map[string]any{"crit": []string{"exp"}}, nil, "crit header"},
		{"empty crit", v, map[string]any{"crit": []string{}}, nil, "crit header"},
		{"a year", v, nil, map[string]any{"exp": now.Add(365 * 24 * time.Hour).Unix()}, "longer than the 24h0m0s accepted"},
		{"a year without iat", v, nil, map[string]any{"iat": nil, "exp": now.Add(365 * 24 * time.Hour).Unix()}, "longer than"},
		{"issued long ago, long lived", v, nil, map[string]any{"iat": now.Add(-47 * time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()}, "longer than"},
		{"an hour, at most ten minutes", short, nil, nil, "longer than the 10m0s accepted"},
		{"five minutes, at most ten", short, nil, map[string]any{"exp": now.Add(5 * time.Minute).Unix()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, tc.header, claimsWith(tc.claims)))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !errors.Is(err, authn.ErrInvalidToken) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
	if _, err := authn.New(authn.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: testSecret, MaxLifetime: -time.Second}); err == nil {
		t.Fatal("a negative MaxLifetime was accepted")
	}
}
