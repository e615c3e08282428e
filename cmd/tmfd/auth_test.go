package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWTVerifierFromFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too-short"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(keys, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	iss := func(o serveOptions) serveOptions { o.JWTIssuer, o.JWTAudience = "https://idp", "tmf"; return o }

	for _, tc := range []struct {
		name string
		o    serveOptions
		err  string // "" = a verifier (or none when no issuer)
		none bool
	}{
		{"no JWT settings: opaque tokens only", serveOptions{}, "", true},
		{"a key without an issuer", serveOptions{JWTSecretFile: secret}, "--jwt-issuer is required", false},
		{"an issuer without a key", iss(serveOptions{}), "jwt:", false},
		{"HS256 secret file (its newline dropped)", iss(serveOptions{JWTSecretFile: secret}), "", false},
		{"a short secret", iss(serveOptions{JWTSecretFile: short}), "jwt:", false},
		{"a missing secret file", iss(serveOptions{JWTSecretFile: filepath.Join(dir, "none")}), "no such file", false},
		{"RS256 keys", iss(serveOptions{JWTKeysFile: keys}), "", false},
		{"a keys file that is not PEM", iss(serveOptions{JWTKeysFile: secret}), "jwt: " + secret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := jwtVerifier(tc.o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (v == nil) != tc.none {
				t.Fatalf("verifier %v, want none: %v", v, tc.none)
			}
		})
	}

	// The secret read from the file verifies a token signed with it.
	v, err := jwtVerifier(iss(serveOptions{JWTSecretFile: secret}))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://idp", "aud": "tmf", "sub": "alice",
		"exp": time.Now().Add(time.Minute).Unix(), "roles": []string{"buyer"}}).SignedString([]byte(strings.Repeat("s", 40)))
	if err != nil {
		t.Fatal(err)
	}
	if cl, err := v.Verify(tok); err != nil || cl.Subject != "alice" {
		t.Fatalf("Verify = %+v, %v", cl, err)
	}
}
