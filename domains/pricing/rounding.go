package pricing

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// BasisPointsWhole is 100% in basis points: 10000 basis points multiply an
// amount by one.
const BasisPointsWhole = 10000

// RangeError is an argument outside the domain of a rounding helper, or a
// result that does not fit in int64. Func names the helper, Arg the
// argument ("amount", "basisPoints", "total", "weights[2]", "result") and
// Value its value.
type RangeError struct {
	Func   string
	Arg    string
	Value  int64
	Reason string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("pricing.%s: %s %d: %s", e.Func, e.Arg, e.Value, e.Reason)
}

// Percent returns amount × basisPoints / 10000 rounded HALF UP to the minor
// unit: the rounding of prices (a member or tier price computed from a list
// price). Both arguments must be non-negative, so half up is also half away
// from zero: 5 × 9000 / 10000 = 4.5 → 5, 1999 × 9500 / 10000 = 1899.05 →
// 1899, 1 × 5000 / 10000 = 0.5 → 1, 1 × 4999 / 10000 = 0.4999 → 0.
//
// basisPoints may exceed 10000 (a surcharge of 6% is 10600). The product is
// computed in 128 bits, so any amount may be given with basis points up to
// 10000; a result above math.MaxInt64 is a *RangeError, as is a negative
// argument.
func Percent(amount, basisPoints int64) (int64, error) {
	return percent("Percent", amount, basisPoints, BasisPointsWhole/2)
}

// PercentFloor returns amount × basisPoints / 10000 rounded DOWN (toward
// zero) to the minor unit: the rounding of discounts, so that a discount of
// a percentage is never more than that percentage of the amount (15% off
// 1999 is 299.85 → 299, never 300). Both arguments must be non-negative; a
// negative argument or a result above math.MaxInt64 is a *RangeError.
func PercentFloor(amount, basisPoints int64) (int64, error) {
	return percent("PercentFloor", amount, basisPoints, 0)
}

func percent(fn string, amount, bp int64, bias uint64) (int64, error) {
	if amount < 0 {
		return 0, &RangeError{Func: fn, Arg: "amount", Value: amount, Reason: "must not be negative"}
	}
	if bp < 0 {
		return 0, &RangeError{Func: fn, Arg: "basisPoints", Value: bp, Reason: "must not be negative"}
	}
	hi, lo := bits.Mul64(uint64(amount), uint64(bp))
	lo, carry := bits.Add64(lo, bias, 0)
	hi += carry
	if hi >= BasisPointsWhole { // the quotient would not fit in 64 bits
		return 0, &RangeError{Func: fn, Arg: "amount", Value: amount, Reason: fmt.Sprintf("× %d basis points overflows int64", bp)}
	}
	q, _ := bits.Div64(hi, lo, BasisPointsWhole)
	if q > math.MaxInt64 {
		return 0, &RangeError{Func: fn, Arg: "amount", Value: amount, Reason: fmt.Sprintf("× %d basis points overflows int64", bp)}
	}
	return int64(q), nil
}

// Allocate divides an order-level amount, typically a discount, over the
// lines of the order in proportion to their weights, typically the line
// amounts (unit price × quantity), by the largest-remainder method:
//
//  1. every line i gets floor(total × weights[i] / sum(weights));
//  2. the minor units left over (fewer than the number of lines) go, one
//     each, to the lines with the largest remainders of that division;
//     equal remainders go to the lowest index first.
//
// The result has one share per weight and sums to exactly total. It is
// deterministic: the same arguments always give the same shares. A line
// never gets more than its weight (a discount never makes a line
// negative), and a line of weight 0 gets 0.
//
// total must be between 0 and sum(weights), every weight non-negative and
// their sum at most math.MaxInt64. Anything else is refused with a
// *RangeError and a nil slice; in particular a total larger than the sum of
// the weights is REFUSED, not capped: capping would hand back less than was
// asked and hide the bug that asked for it (the order flow caps the
// discount at the subtotal before it allocates). No weights and a total of
// 0 give an empty slice. The products total × weight are computed in 128
// bits, so no amount overflows.
func Allocate(total int64, weights []int64) ([]int64, error) {
	if total < 0 {
		return nil, &RangeError{Func: "Allocate", Arg: "total", Value: total, Reason: "must not be negative"}
	}
	var sum int64
	for i, w := range weights {
		if w < 0 {
			return nil, &RangeError{Func: "Allocate", Arg: fmt.Sprintf("weights[%d]", i), Value: w, Reason: "must not be negative"}
		}
		if w > math.MaxInt64-sum {
			return nil, &RangeError{Func: "Allocate", Arg: fmt.Sprintf("weights[%d]", i), Value: w, Reason: "makes the sum of the weights overflow int64"}
		}
		sum += w
	}
	if total > sum {
		return nil, &RangeError{Func: "Allocate", Arg: "total", Value: total,
			Reason: fmt.Sprintf("exceeds the sum of the weights, %d: a line would get more than its weight", sum)}
	}
	shares := make([]int64, len(weights))
	if total == 0 {
		return shares, nil
	}
	// sum > 0 here, since 0 < total ≤ sum.
	type rest struct {
		index int
		rem   uint64
	}
	rests := make([]rest, 0, len(weights))
	left := total
	for i, w := range weights {
		hi, lo := bits.Mul64(uint64(total), uint64(w))
		// total × w / sum ≤ w < 2^63, so hi < sum and the quotient fits.
		q, r := bits.Div64(hi, lo, uint64(sum))
		shares[i] = int64(q)
		left -= int64(q)
		if r > 0 {
			rests = append(rests, rest{i, r})
		}
	}
	// left < len(rests): each remainder is below sum and they add up to
	// left × sum. A line with a remainder has a share below its weight, so
	// one more unit never exceeds it.
	slices.SortFunc(rests, func(a, b rest) int {
		if c := cmp.Compare(b.rem, a.rem); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	for _, r := range rests[:left] {
		shares[r.index]++
	}
	return shares, nil
}
