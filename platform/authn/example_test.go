package authn_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tmf-platform/tmf/platform/authn"
)

// An HS256 verifier: the token's issuer and audience must match, and its
// roles, org and identities claims describe the caller.
func ExampleVerifier_Verify() {
	secret := []byte("a shared secret of at least 32 bytes!")
	v, err := authn.New(authn.Config{Issuer: "https://idp.example", Audience: "tmf-api", HS256Secret: secret})
	if err != nil {
		panic(err)
	}

	mint := func(iss string) string {
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss":        iss,
			"aud":        "tmf-api",
			"sub":        "agent-7",
			"exp":        time.Now().Add(time.Hour).Unix(),
			"roles":      []string{"agent"},
			"org":        "/0/22/29",
			"identities": []string{"b2b.distribution"},
		}).SignedString(secret)
		if err != nil {
			panic(err)
		}
		return token
	}

	token := mint("https://idp.example")
	fmt.Println("looks like a JWT:", authn.LooksLikeJWT(token))
	c, err := v.Verify(token)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Subject, c.Roles, c.HasRoles, c.Org, c.Identities)

	_, err = v.Verify(mint("https://other.example"))
	fmt.Println(errors.Is(err, authn.ErrInvalidToken))
	fmt.Println(err)
	// Output:
	// looks like a JWT: true
	// agent-7 [agent] true /0/22/29 [b2b.distribution]
	// true
	// invalid token: wrong issuer "https://other.example": expected "https://idp.example"
}
