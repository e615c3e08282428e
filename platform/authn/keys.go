package authn

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// LoadRSAPublicKeys reads the RS256 keys of Config.RS256Keys from PEM: one or
// more blocks of type "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or
// "CERTIFICATE" (its public key is used; its validity dates are not checked).
// A block's kid is its PEM header "kid: ..."; a single key without one is
// stored under "". It refuses: no block, another block type (a private key
// included), a non-RSA key, a key under MinRSABits, several keys when one of
// them has no kid, a duplicate kid, and an unterminated block.
func LoadRSAPublicKeys(data []byte) (map[string]*rsa.PublicKey, error) {
	type entry struct {
		kid    string
		hasKid bool
		key    *rsa.PublicKey
	}
	var entries []entry
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		key, err := rsaPublicKey(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		if bits := key.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("PEM block %d: the RSA key has %d bits, at least %d are required", n, bits, MinRSABits)
		}
		kid, hasKid := block.Headers["kid"]
		entries = append(entries, entry{kid, hasKid, key})
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("PEM: a block is not terminated or not readable")
	}
	if len(entries) == 0 {
		return nil, errors.New("PEM: no block found")
	}
	keys := make(map[string]*rsa.PublicKey, len(entries))
	for i, e := range entries {
		if !e.hasKid && len(entries) > 1 {
			return nil, fmt.Errorf("PEM block %d has no kid header: with several keys every block needs a \"kid: ...\" header", i+1)
		}
		if _, dup := keys[e.kid]; dup {
			return nil, fmt.Errorf("PEM block %d: kid %q appears twice", i+1, e.kid)
		}
		keys[e.kid] = e.key
	}
	return keys, nil
}

// rsaPublicKey parses one PEM block into an RSA public key.
func rsaPublicKey(block *pem.Block) (*rsa.PublicKey, error) {
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC KEY: %w", err)
		}
		pub = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("RSA PUBLIC KEY: %w", err)
		}
		pub = k
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CERTIFICATE: %w", err)
		}
		pub = cert.PublicKey
	default:
		return nil, fmt.Errorf("type %q is not accepted: use PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an RSA key", block.Type, pub)
	}
	return k, nil
}
