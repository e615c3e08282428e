package kernel

import (
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
)

// MaxAmount is the largest amount, in minor units, the platform takes from
// an implementation (a price, a discount, freight) or computes as a line
// total or sum of them: 10^15, below 2^53 so that every amount survives a
// JSON number in any client, and far from int64 overflow.
const MaxAmount int64 = 1_000_000_000_000_000

// AmountError is an implementation's answer with an amount out of bounds:
// that implementation's failure (its point's failure policy applies).
type AmountError struct {
	Field string
	Value int64
	// Sum is true when the amount is a total the answer leads to.
	Sum bool
}

func (e *AmountError) Error() string {
	what := "amount"
	if e.Sum {
		what = "total"
	}
	return fmt.Sprintf("answer refused: %s %s = %d is outside ±%d minor units", what, e.Field, e.Value, MaxAmount)
}

func amountOK(v int64) bool { return v >= -MaxAmount && v <= MaxAmount }

// checkAmounts checks every amount of an answer the platform knows to
// carry money, and the totals it leads to.
func checkAmounts(resp any) error {
	switch r := resp.(type) {
	case extensions.PriceSheet:
		var sum int64
		for i, l := range r.Lines {
			field := fmt.Sprintf("lines[%d].unitPrice", i)
			if !amountOK(l.UnitPrice) {
				return &AmountError{Field: field, Value: l.UnitPrice}
			}
			if l.Quantity != 0 && l.UnitPrice != 0 && (l.Quantity > MaxAmount || l.Quantity < -MaxAmount ||
				abs(l.UnitPrice) > MaxAmount/abs(l.Quantity)) {
				return &AmountError{Field: field + " × quantity", Value: l.UnitPrice, Sum: true}
			}
			sum += l.UnitPrice * l.Quantity
			if !amountOK(sum) {
				return &AmountError{Field: "lines", Value: sum, Sum: true}
			}
		}
	case extensions.Freight:
		if !amountOK(r.Amount) {
			return &AmountError{Field: "amount", Value: r.Amount}
		}
	case extensions.Stack:
		if !amountOK(r.Discount) {
			return &AmountError{Field: "discount", Value: r.Discount}
		}
		return checkCandidates("applied", r.Applied)
	case extensions.Candidates:
		return checkCandidates("items", r.Items)
	}
	return nil
}

func checkCandidates(field string, cs []extensions.Candidate) error {
	var sum int64
	for i, c := range cs {
		if !amountOK(c.Discount) {
			return &AmountError{Field: fmt.Sprintf("%s[%d].discount", field, i), Value: c.Discount}
		}
		if sum += c.Discount; !amountOK(sum) {
			return &AmountError{Field: field, Value: sum, Sum: true}
		}
	}
	return nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
