package pricing_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/domains/pricing"
)

// readCases decodes the cases of one testdata file and refuses an empty one.
func readCases[C any](t *testing.T, path string) []C {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []C
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", path)
	}
	return cases
}

// wantRangeError checks that err is a *pricing.RangeError of fn naming arg.
func wantRangeError(t *testing.T, err error, fn, arg string) {
	t.Helper()
	var re *pricing.RangeError
	if !errors.As(err, &re) || re.Func != fn || re.Arg != arg || re.Reason == "" {
		t.Fatalf("err = %#v, want a *RangeError of %s naming %q", err, fn, arg)
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	type percentCase struct {
		Name        string `json:"name"`
		Amount      int64  `json:"amount"`
		BasisPoints int64  `json:"basisPoints"`
		HalfUp      int64  `json:"halfUp"`
		Floor       int64  `json:"floor"`
		Err         string `json:"err"` // the argument a refusal names
	}
	for _, tc := range readCases[percentCase](t, "testdata/percent.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			up, errUp := pricing.Percent(tc.Amount, tc.BasisPoints)
			down, errDown := pricing.PercentFloor(tc.Amount, tc.BasisPoints)
			if tc.Err != "" {
				wantRangeError(t, errUp, "Percent", tc.Err)
				wantRangeError(t, errDown, "PercentFloor", tc.Err)
				if up != 0 || down != 0 {
					t.Fatalf("a refusal returned %d and %d", up, down)
				}
				return
			}
			if errUp != nil || errDown != nil {
				t.Fatalf("errors %v, %v", errUp, errDown)
			}
			if up != tc.HalfUp {
				t.Errorf("Percent(%d, %d) = %d, want %d (half up)", tc.Amount, tc.BasisPoints, up, tc.HalfUp)
			}
			if down != tc.Floor {
				t.Errorf("PercentFloor(%d, %d) = %d, want %d (floor)", tc.Amount, tc.BasisPoints, down, tc.Floor)
			}
		})
	}
}

// Percent and PercentFloor agree with exact rational arithmetic.
func TestPercentMatchesExactArithmetic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		amount := rng.Int64() >> rng.IntN(63) // all magnitudes, up to math.MaxInt64
		bp := rng.Int64N(10001)
		exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(amount), big.NewInt(bp)), big.NewInt(10000))
		floor := new(big.Int).Quo(exact.Num(), exact.Denom())
		halfUp := new(big.Int).Quo(new(big.Int).Add(new(big.Int).Mul(exact.Num(), big.NewInt(2)), exact.Denom()),
			new(big.Int).Mul(exact.Denom(), big.NewInt(2)))
		up, err1 := pricing.Percent(amount, bp)
		down, err2 := pricing.PercentFloor(amount, bp)
		if err1 != nil || err2 != nil || up != halfUp.Int64() || down != floor.Int64() {
			t.Fatalf("(%d, %d): Percent %d %v (want %s), PercentFloor %d %v (want %s)", amount, bp, up, err1, halfUp, down, err2, floor)
		}
	}
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	type allocateCase struct {
		Name    string  `json:"name"`
		Total   int64   `json:"total"`
		Weights []int64 `json:"weights"`
		Want    []int64 `json:"want"`
		Err     string  `json:"err"` // the argument a refusal names
		Note    string  `json:"note"`
	}
	for _, tc := range readCases[allocateCase](t, "testdata/allocate.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			weights := slices.Clone(tc.Weights)
			got, err := pricing.Allocate(tc.Total, weights)
			if !slices.Equal(weights, tc.Weights) {
				t.Fatalf("the weights were modified: %v", weights)
			}
			if tc.Err != "" {
				wantRangeError(t, err, "Allocate", tc.Err)
				if got != nil {
					t.Fatalf("a refusal returned %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, tc.Want) {
				t.Fatalf("Allocate(%d, %v) = %v, want %v %s", tc.Total, tc.Weights, got, tc.Want, tc.Note)
			}
		})
	}
}

// The invariants of Allocate on random inputs: one share per weight, the
// shares sum to the total, no share above its weight, every share within one
// unit below its exact proportion, the same answer twice, and a leftover
// unit never goes to a smaller remainder than one that got none.
func TestAllocateInvariants(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		weights := make([]int64, rng.IntN(8))
		var sum int64
		for i := range weights {
			switch rng.IntN(4) {
			case 0: // zero weights and ties are common
			case 1:
				weights[i] = 100
			default:
				weights[i] = rng.Int64N(1_000_000)
			}
			sum += weights[i]
		}
		total := int64(0)
		if sum > 0 {
			total = rng.Int64N(sum + 1)
		}
		got, err := pricing.Allocate(total, weights)
		if err != nil {
			t.Fatalf("Allocate(%d, %v): %v", total, weights, err)
		}
		again, _ := pricing.Allocate(total, weights)
		if len(got) != len(weights) || !slices.Equal(got, again) {
			t.Fatalf("Allocate(%d, %v) = %v then %v", total, weights, got, again)
		}
		var gotSum int64
		minGiven, maxSkipped := int64(-1), int64(-1) // remainders of lines that got a leftover unit / did not
		for i, s := range got {
			gotSum += s
			if s < 0 || s > weights[i] {
				t.Fatalf("Allocate(%d, %v)[%d] = %d, outside 0..weight", total, weights, i, s)
			}
			if sum == 0 {
				continue
			}
			floor, rem := total*weights[i]/sum, total*weights[i]%sum
			switch s {
			case floor:
				if rem > 0 {
					maxSkipped = max(maxSkipped, rem)
				}
			case floor + 1:
				if minGiven < 0 || rem < minGiven {
					minGiven = rem
				}
			default:
				t.Fatalf("Allocate(%d, %v)[%d] = %d, exact share %d + %d/%d", total, weights, i, s, floor, rem, sum)
			}
		}
		if gotSum != total {
			t.Fatalf("Allocate(%d, %v) = %v sums to %d", total, weights, got, gotSum)
		}
		if minGiven >= 0 && maxSkipped > minGiven {
			t.Fatalf("Allocate(%d, %v) = %v: a remainder of %d got no unit but one of %d did", total, weights, got, maxSkipped, minGiven)
		}
	}
}
