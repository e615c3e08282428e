package authn_test

import (
	"crypto/rsa"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tmf-platform/tmf/platform/authn"
)

func BenchmarkVerifyHS256(b *testing.B) {
	v := mustNew(b, authn.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: testSecret})
	token := sign(b, jwt.SigningMethodHS256, testSecret, nil, claimsWith(map[string]any{"roles": []string{"buyer"}}))
	for b.Loop() {
		if _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := testKeys()[0]
	v := mustNew(b, authn.Config{Issuer: testIssuer, Audience: testAudience, RS256Keys: map[string]*rsa.PublicKey{"k1": &k.PublicKey}})
	token := sign(b, jwt.SigningMethodRS256, k, map[string]any{"kid": "k1"}, claimsWith(map[string]any{"roles": []string{"buyer"}}))
	for b.Loop() {
		if _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}
