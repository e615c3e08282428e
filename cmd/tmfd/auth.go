package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/tmf-platform/tmf/platform/authn"
)

// jwtVerifier builds the JWT verifier of the options; nil when no issuer
// is set (opaque tokens only).
func jwtVerifier(o serveOptions) (*authn.Verifier, error) {
	if o.JWTIssuer == "" {
		if o.JWTAudience != "" || o.JWTSecretFile != "" || o.JWTKeysFile != "" {
			return nil, errors.New("jwt: --jwt-issuer is required with the other --jwt flags")
		}
		return nil, nil
	}
	cfg := authn.Config{Issuer: o.JWTIssuer, Audience: o.JWTAudience, MaxLifetime: o.JWTMaxLifetime}
	if o.JWTSecretFile != "" {
		b, err := os.ReadFile(o.JWTSecretFile)
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		cfg.HS256Secret = bytes.TrimRight(b, "\r\n")
	}
	if o.JWTKeysFile != "" {
		b, err := os.ReadFile(o.JWTKeysFile)
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		if cfg.RS256Keys, err = authn.LoadRSAPublicKeys(b); err != nil {
			return nil, fmt.Errorf("jwt: %s: %w", o.JWTKeysFile, err)
		}
	}
	v, err := authn.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}
