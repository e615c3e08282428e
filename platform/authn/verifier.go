package authn

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds the work done on a token before its signature is
// checked (its header and payload are decoded first).
const maxTokenLen = 16 << 10

// Verifier checks JWT bearer tokens against one Config. Build it with New.
type Verifier struct {
	parser *jwt.Parser
	algs   []string // accepted, in the order shown in errors

	issuer, audience    string
	maxLifetime, leeway time.Duration
	secret              []byte                    // nil: HS256 disabled
	rsKeys              map[string]*rsa.PublicKey // nil: RS256 disabled
	noKid               *rsa.PublicKey            // key for tokens without kid; nil: such tokens are refused

	rolesClaim, orgClaim, identitiesClaim string
}

// New checks c, fills in its defaults and returns a Verifier. It refuses a
// Config without Issuer, Audience or any key, an HS256 secret shorter than
// MinHS256SecretLen, an RSA key under MinRSABits, a Leeway outside
// [0, MaxLeeway] and clashing claim names, naming every problem at once.
func New(c Config) (*Verifier, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer:          c.Issuer,
		audience:        c.Audience,
		maxLifetime:     c.MaxLifetime,
		leeway:          c.Leeway,
		secret:          c.HS256Secret,
		rsKeys:          c.RS256Keys,
		rolesClaim:      c.RolesClaim,
		orgClaim:        c.OrgClaim,
		identitiesClaim: c.IdentitiesClaim,
	}
	if v.secret != nil {
		v.algs = append(v.algs, jwt.SigningMethodHS256.Alg())
	}
	if v.rsKeys != nil {
		v.algs = append(v.algs, jwt.SigningMethodRS256.Alg())
		if k, ok := v.rsKeys[""]; ok {
			v.noKid = k
		} else if len(v.rsKeys) == 1 {
			for _, k := range v.rsKeys {
				v.noKid = k
			}
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(c.Issuer),
		jwt.WithAudience(c.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.Leeway),
	)
	return v, nil
}

// Verify checks token's signature, algorithm, issuer, audience and times,
// then reads its claims. Any failure wraps ErrInvalidToken and says why.
func (v *Verifier) Verify(token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, invalid("malformed: the token is longer than %d bytes", maxTokenLen)
	}
	if !LooksLikeJWT(token) {
		return Claims{}, invalid("malformed: a JWT is three base64url segments separated by dots")
	}
	mc := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, mc, v.key)
	if err != nil {
		return Claims{}, v.explain(t, mc, err)
	}
	// RFC 7515 §4.1.11: a token whose crit header names extensions the
	// recipient does not understand must be refused; this one understands
	// none.
	if crit, ok := t.Header["crit"]; ok {
		return Claims{}, invalid("crit header %v: this server understands no critical extension", crit)
	}
	if err := v.lifetime(mc); err != nil {
		return Claims{}, err
	}
	return v.claims(mc)
}

// lifetime refuses a token valid for longer than the configured maximum.
func (v *Verifier) lifetime(mc jwt.MapClaims) error {
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return invalid("missing exp: tokens must expire")
	}
	from := time.Now()
	if iat, err := mc.GetIssuedAt(); err == nil && iat != nil {
		from = iat.Time
	}
	if life := exp.Sub(from); life > v.maxLifetime+v.leeway {
		return invalid("valid for %s, longer than the %s accepted", life.Round(time.Second), v.maxLifetime)
	}
	return nil
}

// keyError is a refusal decided while choosing the key; its reason is shown.
type keyError struct{ reason string }

func (e *keyError) Error() string { return e.reason }

// key picks the verification key for t. The parser has already refused any
// algorithm outside v.algs; the switch repeats the check so that an RSA key
// can only ever reach an RSA verification and the secret an HMAC one.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch alg := t.Method.Alg(); {
	case alg == jwt.SigningMethodHS256.Alg() && v.secret != nil:
		return v.secret, nil
	case alg == jwt.SigningMethodRS256.Alg() && v.rsKeys != nil:
		raw, has := t.Header["kid"]
		if !has {
			if v.noKid == nil {
				return nil, &keyError{"the token has no kid header and this server trusts several RS256 keys: add the kid of the signing key"}
			}
			return v.noKid, nil
		}
		kid, ok := raw.(string)
		if !ok {
			return nil, &keyError{"malformed: the kid header must be a string"}
		}
		k, ok := v.rsKeys[kid]
		if !ok {
			return nil, &keyError{fmt.Sprintf("unknown kid %s: no trusted RS256 key has it", quote(kid))}
		}
		return k, nil
	default:
		return nil, &keyError{v.algNotAccepted(alg)}
	}
}

func (v *Verifier) algNotAccepted(alg string) string {
	if alg == "" {
		return fmt.Sprintf("the token header has no alg; accepted: %s", strings.Join(v.algs, ", "))
	}
	return fmt.Sprintf("algorithm %s not accepted; accepted: %s", quote(alg), strings.Join(v.algs, ", "))
}

// explain turns a parser error into an ErrInvalidToken with a reason, in the
// order the parser checks: shape, algorithm, key, signature, then claims
// (which it reads only once the signature holds).
func (v *Verifier) explain(t *jwt.Token, mc jwt.MapClaims, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return invalid("malformed: %s", strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": "))
	}
	if t != nil {
		if alg, _ := t.Header["alg"].(string); !slices.Contains(v.algs, alg) {
			return invalid("%s", v.algNotAccepted(alg))
		}
	}
	if ke := (*keyError)(nil); errors.As(err, &ke) {
		return invalid("%s", ke.reason)
	}
	if errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return invalid("%s", strings.Join(v.claimProblems(mc, err), "; "))
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return invalid("bad signature: the token was not signed by a key this server trusts, or was altered")
	}
	return invalid("unverifiable token")
}

// claimProblems lists, for a token whose signature holds, why the parser
// refused its registered claims.
func (v *Verifier) claimProblems(mc jwt.MapClaims, err error) []string {
	var why []string
	wrong := wrongTypeClaims(mc)
	for _, name := range wrong {
		why = append(why, fmt.Sprintf("claim %q has the wrong type", name))
	}
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		if exp, _ := mc.GetExpirationTime(); exp == nil && !slices.Contains(wrong, "exp") {
			why = append(why, "missing exp: tokens must expire")
		}
		if iss, _ := mc.GetIssuer(); iss == "" && !slices.Contains(wrong, "iss") {
			why = append(why, fmt.Sprintf("missing iss: expected %q", v.issuer))
		}
		if aud, _ := mc.GetAudience(); (len(aud) == 0 || len(aud) == 1 && aud[0] == "") && !slices.Contains(wrong, "aud") {
			why = append(why, fmt.Sprintf("missing aud: expected %q", v.audience))
		}
	}
	if errors.Is(err, jwt.ErrTokenExpired) {
		why = append(why, "expired at "+claimTime(mc, "exp"))
	}
	if errors.Is(err, jwt.ErrTokenNotValidYet) {
		why = append(why, "not valid before "+claimTime(mc, "nbf"))
	}
	if errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
		why = append(why, "issued in the future, at "+claimTime(mc, "iat"))
	}
	if errors.Is(err, jwt.ErrTokenInvalidIssuer) {
		iss, _ := mc.GetIssuer()
		why = append(why, fmt.Sprintf("wrong issuer %s: expected %q", quote(iss), v.issuer))
	}
	if errors.Is(err, jwt.ErrTokenInvalidAudience) {
		aud, _ := mc.GetAudience()
		if len(aud) > 8 {
			aud = aud[:8]
		}
		quoted := make([]string, len(aud))
		for i, a := range aud {
			quoted[i] = quote(a)
		}
		why = append(why, fmt.Sprintf("wrong audience [%s]: expected %q", strings.Join(quoted, " "), v.audience))
	}
	if len(why) == 0 {
		why = append(why, "invalid registered claims")
	}
	return why
}

// wrongTypeClaims names the registered claims present with a JSON type the
// parser cannot use.
func wrongTypeClaims(mc jwt.MapClaims) []string {
	var names []string
	for _, n := range []string{"exp", "nbf", "iat"} {
		if raw, ok := mc[n]; ok {
			if _, num := raw.(float64); !num {
				names = append(names, n)
			}
		}
	}
	if raw, ok := mc["iss"]; ok {
		if _, s := raw.(string); !s {
			names = append(names, "iss")
		}
	}
	if _, err := mc.GetAudience(); err != nil {
		names = append(names, "aud")
	} else if raw, ok := mc["aud"]; ok && raw != nil {
		switch raw.(type) {
		case string, []any:
		default:
			names = append(names, "aud")
		}
	}
	return names
}

// claimTime renders a numeric-date claim for an error message.
func claimTime(mc jwt.MapClaims, name string) string {
	f, ok := mc[name].(float64)
	if !ok {
		return "an unreadable time"
	}
	return time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
}
