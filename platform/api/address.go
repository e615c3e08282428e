package api

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tmf-platform/tmf/extensions"
)

// Sizes of a shipping address's fields, in characters (runes).
const (
	maxAddrRegion = 64
	maxAddrLine   = 200
	maxAddrCity   = 100
	maxAddrPostal = 32
	maxAddrName   = 100
	maxAddrPhone  = 32
)

// isoCountries are the ISO 3166-1 alpha-2 codes officially assigned (249),
// without the reserved ones (UK, EU, SU, …).
var isoCountries = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(countryCodes) {
		m[c] = true
	}
	return m
}()

const countryCodes = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI " +
	"BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN " +
	"CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK " +
	"FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM " +
	"HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN " +
	"KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK " +
	"ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP " +
	"NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF " +
	"TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI " +
	"VN VU WF WS YE YT ZA ZM ZW"

// checkAddress checks a shipping address before any point sees it: every
// field within its length and free of control characters, the phone made
// of digits, "+", spaces and "-" (with at least one digit), the country an
// assigned ISO 3166-1 alpha-2 code in capitals. A refusal is 400
// invalid_request naming the field ("shippingAddress.phone").
func checkAddress(a *extensions.Address) error {
	if a == nil {
		return nil
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"region", a.Region, maxAddrRegion}, {"line1", a.Line1, maxAddrLine}, {"line2", a.Line2, maxAddrLine},
		{"city", a.City, maxAddrCity}, {"postal", a.Postal, maxAddrPostal}, {"name", a.Name, maxAddrName},
		{"phone", a.Phone, maxAddrPhone}, {"country", a.Country, 2},
	} {
		field := "shippingAddress." + f.name
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return invalidField(field, "%s is at most %d characters; got %d", field, f.max, n)
		}
		if strings.ContainsFunc(f.value, unicode.IsControl) {
			return invalidField(field, "%s may not contain control characters (line breaks, tabs, …)", field)
		}
	}
	if a.Phone != "" && (strings.ContainsFunc(a.Phone, func(r rune) bool {
		return !('0' <= r && r <= '9' || r == '+' || r == ' ' || r == '-')
	}) || !strings.ContainsAny(a.Phone, "0123456789")) {
		return invalidField("shippingAddress.phone", "shippingAddress.phone is digits, \"+\", spaces and \"-\"; got %q", a.Phone)
	}
	if a.Country != "" && !isoCountries[a.Country] {
		return invalidField("shippingAddress.country", "shippingAddress.country is an ISO 3166-1 alpha-2 code in capitals (\"CN\", \"DE\"); got %q", a.Country)
	}
	return nil
}
