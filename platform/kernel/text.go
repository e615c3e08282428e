package kernel

import (
	"strconv"
	"unicode/utf8"
)

// MaxText is the most bytes of free text from an implementation (an error
// message, a veto's code or reason) the platform keeps: a bizpack's 1 MB
// error must not be copied into every order's trace, log line and API
// answer.
const MaxText = 1024

// ClipText cuts s to MaxText bytes (at a character boundary) and says how
// much was cut.
func ClipText(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)-cut) + " bytes cut)"
}
