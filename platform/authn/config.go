package authn

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Limits and defaults of a Config.
const (
	// MinHS256SecretLen is the shortest HS256 secret New accepts, in bytes
	// (RFC 7518 §3.2: a key at least as long as the hash output).
	MinHS256SecretLen = 32
	// MinRSABits is the smallest RSA modulus accepted, by New and by
	// LoadRSAPublicKeys.
	MinRSABits = 2048
	// DefaultLeeway is the clock skew allowed when Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Config.Leeway New accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultMaxLifetime bounds how long a token may be valid when
	// Config.MaxLifetime is zero.
	DefaultMaxLifetime = 24 * time.Hour
)

// Default claim names.
const (
	DefaultRolesClaim      = "roles"
	DefaultOrgClaim        = "org"
	DefaultIdentitiesClaim = "identities"
)

// Config of the JWT verifier. At least one key (an HS256 secret or an RS256
// public key) is required; Issuer and Audience are required, and a token whose
// iss or aud does not match them is refused.
type Config struct {
	// Issuer is the only iss accepted.
	Issuer string
	// Audience must be the aud of a token, or one of its aud array.
	Audience string
	// HS256Secret enables HS256. At least MinHS256SecretLen bytes; nil or
	// empty leaves HS256 disabled.
	HS256Secret []byte
	// RS256Keys enables RS256: the trusted public keys by kid (the kid header
	// of a token picks its key; a kid not in the map is refused). A token
	// without kid is verified with the key under "" when there is one, else
	// with the only key when there is exactly one, else refused. Every key
	// must have at least MinRSABits bits.
	RS256Keys map[string]*rsa.PublicKey
	// Leeway is the clock skew allowed on exp, nbf and iat: zero means
	// DefaultLeeway; at most MaxLeeway; negative is refused.
	Leeway time.Duration
	// MaxLifetime is the longest validity accepted: from iat (or, without
	// iat, from now) to exp. A token valid for longer is refused, so that
	// a leaked token cannot be used for ever. Zero means
	// DefaultMaxLifetime; negative is refused.
	MaxLifetime time.Duration
	// RolesClaim, OrgClaim and IdentitiesClaim name the claims that carry the
	// caller's roles, org node and business identities; empty means
	// DefaultRolesClaim, DefaultOrgClaim, DefaultIdentitiesClaim. They must
	// differ from each other and from the registered claims (iss, sub, aud,
	// exp, nbf, iat, jti).
	RolesClaim, OrgClaim, IdentitiesClaim string
}

// registeredClaims are the RFC 7519 claim names a custom claim may not reuse.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// withDefaults returns a copy of c with defaults filled in and its secret and
// key map copied, so that the caller changing them later has no effect.
func (c Config) withDefaults() Config {
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.RolesClaim == "" {
		c.RolesClaim = DefaultRolesClaim
	}
	if c.OrgClaim == "" {
		c.OrgClaim = DefaultOrgClaim
	}
	if c.IdentitiesClaim == "" {
		c.IdentitiesClaim = DefaultIdentitiesClaim
	}
	if len(c.HS256Secret) > 0 {
		c.HS256Secret = append([]byte(nil), c.HS256Secret...)
	} else {
		c.HS256Secret = nil
	}
	if len(c.RS256Keys) > 0 {
		c.RS256Keys = maps.Clone(c.RS256Keys)
	} else {
		c.RS256Keys = nil
	}
	return c
}

// validate reports every problem of a Config with defaults filled in.
func (c Config) validate() error {
	var errs []string
	if strings.TrimSpace(c.Issuer) == "" {
		errs = append(errs, "Issuer is required")
	}
	if strings.TrimSpace(c.Audience) == "" {
		errs = append(errs, "Audience is required")
	}
	if c.HS256Secret == nil && c.RS256Keys == nil {
		errs = append(errs, "a key is required: set HS256Secret or RS256Keys")
	}
	if c.HS256Secret != nil && len(c.HS256Secret) < MinHS256SecretLen {
		errs = append(errs, fmt.Sprintf("HS256Secret must be at least %d bytes, it has %d", MinHS256SecretLen, len(c.HS256Secret)))
	}
	for _, kid := range slices.Sorted(maps.Keys(c.RS256Keys)) {
		switch k := c.RS256Keys[kid]; {
		case k == nil || k.N == nil:
			errs = append(errs, fmt.Sprintf("RS256 key %q is nil", kid))
		case k.N.BitLen() < MinRSABits:
			errs = append(errs, fmt.Sprintf("RS256 key %q has %d bits, at least %d are required", kid, k.N.BitLen(), MinRSABits))
		}
	}
	if c.MaxLifetime < 0 {
		errs = append(errs, fmt.Sprintf("MaxLifetime must not be negative, it is %s", c.MaxLifetime))
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Sprintf("Leeway must be between 0 and %s, it is %s", MaxLeeway, c.Leeway))
	}
	names := map[string]string{}
	for _, n := range []struct{ field, name string }{
		{"RolesClaim", c.RolesClaim}, {"OrgClaim", c.OrgClaim}, {"IdentitiesClaim", c.IdentitiesClaim},
	} {
		for _, r := range registeredClaims {
			if n.name == r {
				errs = append(errs, fmt.Sprintf("%s %q is a registered JWT claim", n.field, n.name))
			}
		}
		if other, dup := names[n.name]; dup {
			errs = append(errs, fmt.Sprintf("%s and %s are both %q", other, n.field, n.name))
		}
		names[n.name] = n.field
	}
	if len(errs) > 0 {
		return errors.New("authn config: " + strings.Join(errs, "; "))
	}
	return nil
}
