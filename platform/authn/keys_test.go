package authn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tmf-platform/tmf/platform/authn"
)

func certPEM(t *testing.T, key *rsa.PrivateKey, headers map[string]string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: headers, Bytes: der})
}

func TestLoadRSAPublicKeys(t *testing.T) {
	keys := testKeys()
	k1, k2 := &keys[0].PublicKey, &keys[1].PublicKey
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys[0])})
	kid := func(k string) map[string]string { return map[string]string{"kid": k} }
	cat := func(blocks ...[]byte) []byte { return bytes.Join(blocks, nil) }
	full := pkixPEM(t, k1, nil)

	tests := []struct {
		name string
		pem  []byte
		want map[string]*rsa.PublicKey
		err  string // "" when the PEM is accepted
	}{
		{"PKIX", pkixPEM(t, k1, nil), map[string]*rsa.PublicKey{"": k1}, ""},
		{"PKCS1", pkcs1PEM(k1, nil), map[string]*rsa.PublicKey{"": k1}, ""},
		{"certificate", certPEM(t, keys[0], nil), map[string]*rsa.PublicKey{"": k1}, ""},
		{"single key with kid", pkixPEM(t, k1, kid("2024-01")), map[string]*rsa.PublicKey{"2024-01": k1}, ""},
		{"text around the blocks", cat([]byte("issuer signing key\n"), pkixPEM(t, k1, nil), []byte("\n")), map[string]*rsa.PublicKey{"": k1}, ""},
		{"several keys with kids, mixed types", cat(pkixPEM(t, k1, kid("a")), pkcs1PEM(k2, kid("b")), certPEM(t, keys[2], kid("c"))),
			map[string]*rsa.PublicKey{"a": k1, "b": k2, "c": &keys[2].PublicKey}, ""},

		{"several keys without kid", cat(pkixPEM(t, k1, nil), pkixPEM(t, k2, nil)), nil, "PEM block 1 has no kid header"},
		{"one of several without kid", cat(pkixPEM(t, k1, kid("a")), pkixPEM(t, k2, nil)), nil, "PEM block 2 has no kid header"},
		{"duplicate kid", cat(pkixPEM(t, k1, kid("a")), pkixPEM(t, k2, kid("a"))), nil, `kid "a" appears twice`},
		{"short key", pkixPEM(t, &short.PublicKey, nil), nil, "the RSA key has 1024 bits, at least 2048"},
		{"short key among good ones", cat(pkixPEM(t, k1, kid("a")), pkcs1PEM(&short.PublicKey, kid("b"))), nil, "PEM block 2: the RSA key has 1024 bits"},
		{"private key", priv, nil, `type "RSA PRIVATE KEY" is not accepted`},
		{"EC key", pkixPEM(t, &ec.PublicKey, nil), nil, "not an RSA key"},
		{"no PEM", []byte("ssh-rsa AAAA..."), nil, "no block found"},
		{"empty", nil, nil, "no block found"},
		{"unterminated block", full[:len(full)-30], nil, "not terminated"},
		{"corrupt PKIX", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")}), nil, "PUBLIC KEY:"},
		{"corrupt PKCS1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte("nope")}), nil, "RSA PUBLIC KEY:"},
		{"corrupt certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}), nil, "CERTIFICATE:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := authn.LoadRSAPublicKeys(tc.pem)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("accepted: %v", got)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %q does not say %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadRSAPublicKeys: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tc.want))
			}
			for k, want := range tc.want {
				if !want.Equal(got[k]) {
					t.Errorf("key %q is not the one in the PEM", k)
				}
			}
		})
	}
}

// Keys loaded from PEM verify the tokens of their private keys, by kid.
func TestLoadedKeysVerify(t *testing.T) {
	keys := testKeys()
	loaded, err := authn.LoadRSAPublicKeys(bytes.Join([][]byte{
		pkixPEM(t, &keys[0].PublicKey, map[string]string{"kid": "old"}),
		certPEM(t, keys[1], map[string]string{"kid": "new"}),
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	v := mustNew(t, authn.Config{Issuer: testIssuer, Audience: testAudience, RS256Keys: loaded})
	for kid, key := range map[string]*rsa.PrivateKey{"old": keys[0], "new": keys[1]} {
		got, err := v.Verify(sign(t, jwt.SigningMethodRS256, key, map[string]any{"kid": kid}, claimsWith(map[string]any{"sub": "svc-" + kid})))
		if err != nil || got.Subject != "svc-"+kid {
			t.Errorf("kid %s: %+v, %v", kid, got, err)
		}
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, keys[0], map[string]any{"kid": "new"}, claimsWith(nil))); err == nil {
		t.Error("a token signed by the old key verified under the new kid")
	}
}
