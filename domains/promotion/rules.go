package promotion

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind is what a promotion does to the lines it matches.
type Kind string

// The kinds of promotion.
const (
	// PercentOff takes Params.BasisPoints of each matching line's amount,
	// floor(amount × bp / 10000) per line, at most Params.MaxDiscount in all
	// when that is set.
	PercentOff Kind = "percent_off"
	// AmountOff takes Params.Amount off the matching lines, at most what
	// they amount to.
	AmountOff Kind = "amount_off"
	// Threshold takes Params.Amount off when the matching lines amount to at
	// least Params.Threshold; with Params.Repeat, Params.Amount for every
	// whole multiple of Params.Threshold, at most Params.MaxRepeats times
	// when that is set.
	Threshold Kind = "threshold"
	// NForM is buy N pay M: the matching units are ranked by unit price,
	// dearest first, and taken N at a time; in every complete group of N the
	// cheapest N−M units are free. Units left over after the last complete
	// group pay full price.
	NForM Kind = "n_for_m"
	// FreeShipping waives the order's freight, when the matching lines
	// amount to at least Params.Threshold (always, when it is zero).
	FreeShipping Kind = "free_shipping"
)

// Kinds lists the kinds a promotion can have.
var Kinds = []Kind{PercentOff, AmountOff, Threshold, NForM, FreeShipping}

// Promotion is one promotion rule. Amounts are in minor units of Currency,
// and a promotion applies only to orders in its currency.
type Promotion struct {
	// ID is unique: 1 to 64 letters, digits, '.', '_' or '-'.
	ID string `json:"id"`
	// Name is shown to buyers as the candidate's description.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Group is the exclusion group: of the candidates of one group at most
	// one applies to an order. Groups stack in the Book's group order.
	Group      string     `json:"group"`
	Conditions Conditions `json:"conditions"`
	Params     Params     `json:"params"`
	// CouponRequired promotions are offered only for a checked coupon of
	// theirs, as candidate "coupon:<code>"; the others are offered to every
	// order they match, as candidate "promo:<id>".
	CouponRequired bool `json:"couponRequired,omitempty"`
	// Budget is the money the promotion may give away in all, in minor
	// units of Currency; 0 means unlimited. It is the sum of the initial
	// budget and every top-up; what is left is read with GetBudget.
	Budget int64 `json:"budget,omitempty"`
	// BudgetBuckets splits a hot budget over that many rows (2 to
	// MaxBudgetBuckets); 0 or 1 keeps it in one row.
	BudgetBuckets int    `json:"budgetBuckets,omitempty"`
	Currency      string `json:"currency"`
	Enabled       bool   `json:"enabled"`
	// Version counts the promotion's writes: 0 for a new promotion; to
	// change a stored one, send the version that was read.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Conditions say which orders and lines a promotion matches. Every
// condition that is set must hold; an empty list holds for everything.
type Conditions struct {
	// SKUs and Categories select the matching lines: a line matches when
	// its SKU is listed or its category is listed. With neither, every line
	// matches. An order without a matching line gets no candidate.
	SKUs       []string `json:"skus,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// Identities: the order's business identity must be one of them or
	// descend from one ("virtual.topup.mobile" matches "virtual").
	Identities []string `json:"identities,omitempty"`
	// Channels: the order's channel must be one of them.
	Channels []string `json:"channels,omitempty"`
	// BuyerTags: the buyer must carry at least one of them in
	// Buyer.Attrs["tags"], a comma-separated list.
	BuyerTags []string `json:"buyerTags,omitempty"`
	// StartsAt and EndsAt bound the promotion in time, half-open: it is
	// offered from StartsAt included to EndsAt excluded. A nil bound is
	// open. Coupons issued without an explicit expiry expire at EndsAt.
	StartsAt *time.Time `json:"startsAt,omitempty"`
	EndsAt   *time.Time `json:"endsAt,omitempty"`
}

// Params are the numbers of a promotion; each kind uses some of them and
// the others must be zero.
type Params struct {
	// BasisPoints (percent_off): 1 to 10000, hundredths of a percent.
	BasisPoints int64 `json:"basisPoints,omitempty"`
	// MaxDiscount (percent_off, optional): a cap on the discount.
	MaxDiscount int64 `json:"maxDiscount,omitempty"`
	// Amount (amount_off, threshold): the amount off, positive; for
	// threshold at most Threshold.
	Amount int64 `json:"amount,omitempty"`
	// Threshold (threshold: required; free_shipping: optional): what the
	// matching lines must amount to.
	Threshold int64 `json:"threshold,omitempty"`
	// Repeat (threshold): Amount for every whole multiple of Threshold.
	Repeat bool `json:"repeat,omitempty"`
	// MaxRepeats (threshold with Repeat, optional): a cap on the multiples.
	MaxRepeats int64 `json:"maxRepeats,omitempty"`
	// N and M (n_for_m): buy N pay M, 1 <= M < N <= 1000.
	N int64 `json:"n,omitempty"`
	M int64 `json:"m,omitempty"`
}

// Limits of a promotion.
const (
	MaxIDLen         = 64
	MaxNameLen       = 255
	MaxBudgetBuckets = 64
	// MaxConditionValues bounds each list of Conditions.
	MaxConditionValues = 1000
	maxN               = 1000
)

var (
	keyPattern      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks a promotion and reports every problem at once as an
// *InvalidPromotionError, or nil.
func (p Promotion) Validate() error {
	v := &InvalidPromotionError{ID: p.ID}
	if !keyPattern.MatchString(p.ID) {
		v.add("id", "must be 1 to %d letters, digits, '.', '_' or '-', got %q", MaxIDLen, p.ID)
	}
	if len(p.Name) > MaxNameLen {
		v.add("name", "longer than %d bytes", MaxNameLen)
	}
	if !keyPattern.MatchString(p.Group) {
		v.add("group", "is required: 1 to %d letters, digits, '.', '_' or '-', got %q", MaxIDLen, p.Group)
	}
	if !currencyPattern.MatchString(p.Currency) {
		v.add("currency", "must be an ISO 4217 code of three capital letters, got %q", p.Currency)
	}
	p.validateParams(v)
	c := p.Conditions
	for _, l := range []struct {
		name string
		vals []string
	}{{"skus", c.SKUs}, {"categories", c.Categories}, {"identities", c.Identities}, {"channels", c.Channels}, {"buyerTags", c.BuyerTags}} {
		if len(l.vals) > MaxConditionValues {
			v.add("conditions."+l.name, "more than %d values", MaxConditionValues)
		}
		for _, s := range l.vals {
			if strings.TrimSpace(s) == "" || s != strings.TrimSpace(s) {
				v.add("conditions."+l.name, "value %q is empty or has surrounding spaces", s)
				break
			}
			if l.name == "buyerTags" && strings.Contains(s, ",") {
				v.add("conditions.buyerTags", "tag %q contains a comma", s)
				break
			}
		}
	}
	if c.StartsAt != nil && c.EndsAt != nil && !c.EndsAt.After(*c.StartsAt) {
		v.add("conditions.endsAt", "the window [%s, %s) is empty: endsAt must be after startsAt",
			c.StartsAt.UTC().Format(time.RFC3339Nano), c.EndsAt.UTC().Format(time.RFC3339Nano))
	}
	switch {
	case p.Budget < 0:
		v.add("budget", "must not be negative, got %d", p.Budget)
	case p.Budget > 0 && p.Kind == FreeShipping:
		v.add("budget", "free shipping gives away freight, which the promotion does not know: it cannot have a budget")
	}
	switch {
	case p.BudgetBuckets < 0 || p.BudgetBuckets > MaxBudgetBuckets:
		v.add("budgetBuckets", "must be 0 to %d, got %d", MaxBudgetBuckets, p.BudgetBuckets)
	case p.BudgetBuckets > 1 && p.Budget == 0:
		v.add("budgetBuckets", "%d buckets for an unlimited budget: set a budget or leave buckets at 0", p.BudgetBuckets)
	}
	if p.Version < 0 {
		v.add("version", "must not be negative, got %d", p.Version)
	}
	if len(v.Problems) > 0 {
		return v
	}
	return nil
}

// validateParams checks the parameters of the promotion's kind and that the
// parameters of the other kinds are zero.
func (p Promotion) validateParams(v *InvalidPromotionError) {
	pr := p.Params
	used := map[string]bool{}
	switch p.Kind {
	case PercentOff:
		used["basisPoints"], used["maxDiscount"] = true, true
		if pr.BasisPoints < 1 || pr.BasisPoints > 10000 {
			v.add("params.basisPoints", "must be 1 to 10000 (0.01%% to 100%%), got %d", pr.BasisPoints)
		}
		if pr.MaxDiscount < 0 {
			v.add("params.maxDiscount", "must not be negative, got %d", pr.MaxDiscount)
		}
	case AmountOff:
		used["amount"] = true
		if pr.Amount <= 0 {
			v.add("params.amount", "must be positive, got %d", pr.Amount)
		}
	case Threshold:
		used["amount"], used["threshold"], used["repeat"], used["maxRepeats"] = true, true, true, true
		if pr.Threshold <= 0 {
			v.add("params.threshold", "must be positive, got %d", pr.Threshold)
		}
		if pr.Amount <= 0 {
			v.add("params.amount", "must be positive, got %d", pr.Amount)
		} else if pr.Threshold > 0 && pr.Amount > pr.Threshold {
			v.add("params.amount", "%d is more than the threshold %d: a spend-X-save-Y promotion saves at most X", pr.Amount, pr.Threshold)
		}
		if pr.MaxRepeats < 0 {
			v.add("params.maxRepeats", "must not be negative, got %d", pr.MaxRepeats)
		} else if pr.MaxRepeats > 0 && !pr.Repeat {
			v.add("params.maxRepeats", "only applies with repeat")
		}
	case NForM:
		used["n"], used["m"] = true, true
		switch {
		case pr.M < 1:
			v.add("params.m", "must be at least 1, got %d", pr.M)
		case pr.N <= pr.M:
			v.add("params.n", "buy N pay M needs N > M, got N=%d M=%d", pr.N, pr.M)
		case pr.N > maxN:
			v.add("params.n", "must be at most %d, got %d", maxN, pr.N)
		}
	case FreeShipping:
		used["threshold"] = true
		if pr.Threshold < 0 {
			v.add("params.threshold", "must not be negative, got %d", pr.Threshold)
		}
	default:
		v.add("kind", "unknown kind %q; known: percent_off, amount_off, threshold, n_for_m, free_shipping", p.Kind)
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"basisPoints", pr.BasisPoints != 0}, {"maxDiscount", pr.MaxDiscount != 0}, {"amount", pr.Amount != 0},
		{"threshold", pr.Threshold != 0}, {"repeat", pr.Repeat}, {"maxRepeats", pr.MaxRepeats != 0},
		{"n", pr.N != 0}, {"m", pr.M != 0}} {
		if f.set && !used[f.name] {
			v.add("params."+f.name, "is not a parameter of %s", p.Kind)
		}
	}
}

// normalized returns p with its times at the stored precision and empty
// lists as nil, as it reads back from the database.
func (p Promotion) normalized() Promotion {
	stampPtr := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := t.UTC().Truncate(time.Microsecond)
		return &v
	}
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return append([]string(nil), s...)
	}
	c := p.Conditions
	p.Conditions = Conditions{SKUs: nilIfEmpty(c.SKUs), Categories: nilIfEmpty(c.Categories),
		Identities: nilIfEmpty(c.Identities), Channels: nilIfEmpty(c.Channels), BuyerTags: nilIfEmpty(c.BuyerTags),
		StartsAt: stampPtr(c.StartsAt), EndsAt: stampPtr(c.EndsAt)}
	if !p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.UpdatedAt.UTC().Truncate(time.Microsecond)
	}
	if p.BudgetBuckets == 1 {
		p.BudgetBuckets = 0
	}
	return p
}

// buckets is the number of budget rows of the promotion.
func (p Promotion) buckets() int { return max(p.BudgetBuckets, 1) }

func (v *InvalidPromotionError) add(field, format string, args ...any) {
	v.Problems = append(v.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}
