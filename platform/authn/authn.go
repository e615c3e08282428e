// Package authn verifies JWT bearer tokens (HS256 and RS256) and maps them to
// the claims the API needs to build a principal: subject, roles, org node and
// business identities.
//
// # Contracts
//
//   - Only the algorithms whose keys are configured are accepted: HS256 when an
//     HS256 secret is set, RS256 when RSA public keys are set. "none" never is,
//     and an RSA public key is never used as an HMAC secret (no algorithm
//     confusion): a token claiming HS256 is checked against the HS256 secret
//     or refused.
//   - iss must equal Config.Issuer, aud (a string or an array) must contain
//     Config.Audience, exp is required, nbf and iat are honoured; the three
//     times allow Config.Leeway of clock skew.
//   - Claims are looked at only after the signature has been verified.
//   - Every refusal wraps ErrInvalidToken, and its message says why in words a
//     client developer can act on, never showing key material.
//
// A Verifier is immutable after New and safe for concurrent use.
//
// The package is a leaf: it imports the standard library and
// github.com/golang-jwt/jwt/v5 only.
package authn

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidToken is wrapped by every error Verify returns. The HTTP layer
// maps it to 401 and may show the message to the client.
var ErrInvalidToken = errors.New("invalid token")

// invalid returns an ErrInvalidToken that says why.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// LooksLikeJWT reports whether token has the shape of a compact JWS: three
// base64url segments separated by two dots, the first two non-empty. Opaque
// bearer tokens have no dots, so callers use it to pick the verifier; it
// checks the shape only, not the contents.
func LooksLikeJWT(token string) bool {
	header, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, signature, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(signature, ".") {
		return false
	}
	return header != "" && payload != "" && isBase64URL(header) && isBase64URL(payload) && isBase64URL(signature)
}

// isBase64URL reports whether s uses only the unpadded base64url alphabet.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// quote renders a value taken from a token for an error message: quoted, and
// cut short so that a hostile token cannot flood logs.
func quote(s string) string {
	const limit = 64
	if r := []rune(s); len(r) > limit {
		return fmt.Sprintf("%q…", string(r[:limit]))
	}
	return fmt.Sprintf("%q", s)
}
