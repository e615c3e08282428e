package authn

import (
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token says about its caller.
type Claims struct {
	// Subject is the sub claim: required, 1..128 characters of [A-Za-z0-9._@:-].
	Subject string
	// Roles is the roles claim (a string counts as one role); nil when the
	// claim is absent, and the caller then looks the principal up by Subject.
	Roles []string
	// HasRoles reports whether the token carries the roles claim, even empty.
	HasRoles bool
	// Org is the caller's org node id; "" when the claim is absent.
	Org string
	// Identities are the business identities (bizCodes) the token names;
	// nil when the claim is absent.
	Identities []string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

var subjectPattern = regexp.MustCompile(`^[A-Za-z0-9._@:-]{1,128}$`)

// maxClaimValue bounds one role, identity or org id, in characters.
const maxClaimValue = 128

// claims reads the caller's claims from a token whose signature and
// registered claims have been verified.
func (v *Verifier) claims(mc jwt.MapClaims) (Claims, error) {
	var c Claims
	raw, ok := mc["sub"]
	if !ok || raw == "" {
		return Claims{}, invalid("missing sub: the token must name its caller")
	}
	sub, isString := raw.(string)
	if !isString {
		return Claims{}, invalid("claim \"sub\" has the wrong type: expected a string")
	}
	if !subjectPattern.MatchString(sub) {
		return Claims{}, invalid("claim \"sub\" must be 1..128 characters of [A-Za-z0-9._@:-]")
	}
	c.Subject = sub

	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil { // the parser has required it
		return Claims{}, invalid("missing exp: tokens must expire")
	}
	c.ExpiresAt = exp.Time

	if raw, ok := mc[v.rolesClaim]; ok {
		roles, err := stringList(v.rolesClaim, raw, true)
		if err != nil {
			return Claims{}, err
		}
		c.Roles, c.HasRoles = roles, true
	}
	if raw, ok := mc[v.identitiesClaim]; ok {
		ids, err := stringList(v.identitiesClaim, raw, false)
		if err != nil {
			return Claims{}, err
		}
		c.Identities = ids
	}
	if raw, ok := mc[v.orgClaim]; ok {
		org, isString := raw.(string)
		if !isString {
			return Claims{}, invalid("claim %q has the wrong type: expected a string", v.orgClaim)
		}
		if utf8.RuneCountInString(org) > maxClaimValue {
			return Claims{}, invalid("claim %q is longer than %d characters", v.orgClaim, maxClaimValue)
		}
		c.Org = org
	}
	return c, nil
}

// stringList reads a claim that must be an array of non-empty strings, or,
// when single is true, also one string. The result is never nil.
func stringList(name string, raw any, single bool) ([]string, error) {
	want := "an array of strings"
	if single {
		want = "a string or an array of strings"
	}
	var list []string
	switch val := raw.(type) {
	case string:
		if !single {
			return nil, invalid("claim %q has the wrong type: expected %s", name, want)
		}
		list = []string{val}
	case []any:
		list = make([]string, 0, len(val))
		for _, e := range val {
			s, ok := e.(string)
			if !ok {
				return nil, invalid("claim %q has the wrong type: expected %s", name, want)
			}
			list = append(list, s)
		}
	default:
		return nil, invalid("claim %q has the wrong type: expected %s", name, want)
	}
	for _, s := range list {
		if s == "" || utf8.RuneCountInString(s) > maxClaimValue {
			return nil, invalid("claim %q: every entry must be 1..%d characters", name, maxClaimValue)
		}
	}
	return list, nil
}
