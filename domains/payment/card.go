package payment

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Card is a payment card as a request carries it. The number is used for
// the processor call and dropped: nothing in the domain stores it, logs it
// or prints it whole (String, GoString and MarshalJSON show only the brand
// and the last four digits).
type Card struct {
	Number string `json:"number"`
}

// String is the card masked: "visa ••••4242".
func (c Card) String() string {
	info, err := ParseCard(c.Number)
	if err != nil {
		return "invalid card"
	}
	return info.String()
}

// GoString masks %#v as String does.
func (c Card) GoString() string { return "payment.Card{" + c.String() + "}" }

// MarshalJSON writes the card masked, as CardInfo. Decoding reads "number".
func (c Card) MarshalJSON() ([]byte, error) {
	info, _ := ParseCard(c.Number)
	return json.Marshal(info)
}

// CardInfo is all that is kept of a card: its brand and last four digits.
type CardInfo struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

func (i CardInfo) String() string { return i.Brand + " ••••" + i.Last4 }

// Card brands, as ParseCard names them.
const (
	BrandVisa       = "visa"
	BrandMastercard = "mastercard"
	BrandAmex       = "amex"
	BrandUnionPay   = "unionpay"
	BrandDiscover   = "discover"
	BrandJCB        = "jcb"
	BrandDiners     = "diners"
	BrandUnknown    = "unknown"
)

// ParseCard validates a card number (12 to 19 digits, spaces and dashes
// between them ignored, Luhn check digit) and returns its brand and last
// four digits, or an *InvalidCardError.
func ParseCard(number string) (CardInfo, error) {
	digits := normalizeCard(number)
	if digits == "" {
		return CardInfo{}, &InvalidCardError{Reason: "not a number of digits"}
	}
	if n := len(digits); n < 12 || n > 19 {
		return CardInfo{}, &InvalidCardError{Reason: "has " + strconv.Itoa(n) + " digits, not 12 to 19"}
	}
	if !luhn(digits) {
		return CardInfo{}, &InvalidCardError{Reason: "fails the Luhn check"}
	}
	return CardInfo{Brand: brand(digits), Last4: digits[len(digits)-4:]}, nil
}

// normalizeCard returns the digits of number without its separators, or
// "" when it holds anything else.
func normalizeCard(number string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(number) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return ""
		}
	}
	return b.String()
}

// luhn reports whether digits end with a correct Luhn check digit.
func luhn(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// brand names the card network from the number's leading digits (IIN).
func brand(digits string) string {
	p := func(n int) int { v, _ := strconv.Atoi(digits[:n]); return v }
	switch {
	case digits[0] == '4':
		return BrandVisa
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return BrandMastercard
	case p(2) == 34 || p(2) == 37:
		return BrandAmex
	case p(2) == 62:
		return BrandUnionPay
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65:
		return BrandDiscover
	case p(4) >= 3528 && p(4) <= 3589:
		return BrandJCB
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39:
		return BrandDiners
	}
	return BrandUnknown
}
