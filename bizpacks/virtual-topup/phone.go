package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
)

// CodeUnsupportedNumber is the code of the bizpack's denial.
const CodeUnsupportedNumber = "unsupported_number"

// supportedPrefixes are the numbers the bizpack's carriers top up: mainland
// China mobile numbers (+86 1…).
var supportedPrefixes = []string{"+861"}

// SupportedNumber is the bizpack's order.validate: the order's "phone"
// attribute (declared in the manifest, so the platform has checked that it
// is there and is an E.164 number) must be a number its carriers top up,
// a mainland China mobile number; otherwise the order is denied with
// "unsupported_number", naming the number. An order without the attribute
// (from a host older than protocol 1.2, which passes no attributes) is
// denied alike: a top-up without a number cannot be fulfilled. It keeps no
// state and fails only when ctx is done.
func SupportedNumber(ctx context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return extensions.Verdict{}, err
	}
	phone, _ := req.Attributes["phone"].(string)
	if phone == "" {
		return extensions.Deny(CodeUnsupportedNumber, "a top-up needs the phone number to top up (attribute phone)"), nil
	}
	for _, p := range supportedPrefixes {
		if strings.HasPrefix(phone, p) {
			return extensions.Allow(), nil
		}
	}
	return extensions.Deny(CodeUnsupportedNumber, fmt.Sprintf(
		"%s cannot be topped up here: only mainland China mobile numbers (+86 1…)", phone)), nil
}

var _ func(context.Context, extensions.ValidateRequest) (extensions.Verdict, error) = SupportedNumber
