package identity

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Rule maps requests to an identity. Every condition that is set must hold;
// a rule with no condition matches every request. Its specificity is the
// number of conditions it sets, and the most specific matching rule wins.
type Rule struct {
	// Identity the rule resolves to.
	Identity Code `json:"identity"`
	// Channel must equal the request's channel, when set.
	Channel string `json:"channel,omitempty"`
	// Category must equal the category of every line of the request, when
	// set: an order belongs to one business line, so a mixed cart does not
	// match a category rule.
	Category string `json:"category,omitempty"`
	// Buyer attributes that must all be present with these values.
	Buyer map[string]string `json:"buyer,omitempty"`
}

// Specificity is the number of conditions the rule sets.
func (r Rule) Specificity() int {
	n := len(r.Buyer)
	if r.Channel != "" {
		n++
	}
	if r.Category != "" {
		n++
	}
	return n
}

func (r Rule) matches(req Request) bool {
	if r.Channel != "" && r.Channel != req.Channel {
		return false
	}
	if r.Category != "" {
		if len(req.Categories) == 0 {
			return false
		}
		for _, c := range req.Categories {
			if c != r.Category {
				return false
			}
		}
	}
	for k, v := range r.Buyer {
		if got, ok := req.Buyer[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Overlaps reports whether some request could match both r and o: no
// condition that both set differs.
func (r Rule) Overlaps(o Rule) bool {
	if r.Channel != "" && o.Channel != "" && r.Channel != o.Channel {
		return false
	}
	if r.Category != "" && o.Category != "" && r.Category != o.Category {
		return false
	}
	for k, v := range r.Buyer {
		if w, ok := o.Buyer[k]; ok && w != v {
			return false
		}
	}
	return true
}

// TakesFrom returns the identities other than added's own whose traffic the
// rule added could take if it joined rules: those of every rule it overlaps
// and is at least as specific as (a tie makes the requests of both
// ambiguous, which takes them as well). It is conservative: a third, more
// specific rule may keep some of those requests where they were.
func TakesFrom(rules []Rule, added Rule) []Code {
	var out []Code
	for _, r := range rules {
		if r.Identity != added.Identity && added.Specificity() >= r.Specificity() && added.Overlaps(r) &&
			!slices.Contains(out, r.Identity) {
			out = append(out, r.Identity)
		}
	}
	slices.Sort(out)
	return out
}

// String describes the rule for error messages.
func (r Rule) String() string {
	var conds []string
	if r.Channel != "" {
		conds = append(conds, "channel="+r.Channel)
	}
	if r.Category != "" {
		conds = append(conds, "category="+r.Category)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Buyer)) {
		conds = append(conds, "buyer."+k+"="+r.Buyer[k])
	}
	if len(conds) == 0 {
		conds = append(conds, "always")
	}
	return fmt.Sprintf("%s → %s", strings.Join(conds, ","), string(r.Identity))
}

// Request is what resolution looks at.
type Request struct {
	// BizCode, when set, names the identity explicitly; rules are not used.
	BizCode Code
	Channel string
	// Categories of the request's lines, one per line.
	Categories []string
	// Buyer attributes.
	Buyer map[string]string
}

// Resolver maps requests to exactly one identity. It is immutable and safe
// for concurrent use; a new configuration builds a new Resolver.
type Resolver struct {
	known map[Code]bool
	rules []Rule // most specific first
}

// NewResolver checks that every identity is valid, that every rule names a
// known identity, and that no two rules with the same conditions name
// different identities (such a pair would be ambiguous for every request it
// matches). Every problem is reported.
func NewResolver(identities []Code, rules []Rule) (*Resolver, error) {
	r := &Resolver{known: make(map[Code]bool, len(identities))}
	var problems []string
	for _, c := range identities {
		if err := c.Validate(); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		r.known[c] = true
	}
	seen := map[string]Rule{}
	for _, rule := range rules {
		if !r.known[rule.Identity] {
			problems = append(problems, fmt.Sprintf("rule %s names unknown identity %q", rule, string(rule.Identity)))
			continue
		}
		key := conditionKey(rule)
		if prev, ok := seen[key]; ok && prev.Identity != rule.Identity {
			problems = append(problems, fmt.Sprintf("rules %s and %s have the same conditions", prev, rule))
			continue
		}
		seen[key] = rule
		r.rules = append(r.rules, rule)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	slices.SortStableFunc(r.rules, func(a, b Rule) int { return b.Specificity() - a.Specificity() })
	return r, nil
}

func conditionKey(r Rule) string {
	s := r.String()
	return s[:strings.LastIndex(s, " → ")]
}

// Known reports whether c is a configured identity.
func (r *Resolver) Known(c Code) bool { return r.known[c] }

// Resolve returns the identity of a request: the explicit BizCode when it is
// set (it must be known), otherwise the identity of the most specific
// matching rule. No match is a *NoMatchError; two matching rules of the same,
// highest specificity that name different identities is an *AmbiguousError.
func (r *Resolver) Resolve(req Request) (Code, error) {
	if req.BizCode != Root {
		if !r.known[req.BizCode] {
			return Root, &UnknownError{Code: req.BizCode}
		}
		return req.BizCode, nil
	}
	var winner *Rule
	var tied []Rule
	for i := range r.rules {
		rule := &r.rules[i]
		if winner != nil && rule.Specificity() < winner.Specificity() {
			break
		}
		if !rule.matches(req) {
			continue
		}
		if winner == nil {
			winner = rule
			continue
		}
		if rule.Identity != winner.Identity {
			if tied == nil {
				tied = append(tied, *winner)
			}
			tied = append(tied, *rule)
		}
	}
	if winner == nil {
		return Root, &NoMatchError{Request: req, Rules: len(r.rules)}
	}
	if tied != nil {
		return Root, &AmbiguousError{Candidates: tied}
	}
	return winner.Identity, nil
}

// ConfigError lists every problem of a resolver configuration.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "identity configuration: " + strings.Join(e.Problems, "; ")
}

// UnknownError is an explicit bizCode that is not configured.
type UnknownError struct{ Code Code }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown business identity %q", string(e.Code))
}

// NoMatchError is a request that no rule matches.
type NoMatchError struct {
	Request Request
	Rules   int
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("no business identity matches channel=%q categories=%v buyer=%v (%d rules); send bizCode explicitly or add a rule",
		e.Request.Channel, e.Request.Categories, e.Request.Buyer, e.Rules)
}

// AmbiguousError is a request matched by several equally specific rules that
// name different identities. Candidates lists them.
type AmbiguousError struct{ Candidates []Rule }

func (e *AmbiguousError) Error() string {
	parts := make([]string, len(e.Candidates))
	for i, r := range e.Candidates {
		parts[i] = r.String()
	}
	return "ambiguous business identity: equally specific rules match: " + strings.Join(parts, "; ")
}

// Identities returns the candidate identities, sorted and deduplicated.
func (e *AmbiguousError) Identities() []Code {
	var out []Code
	for _, r := range e.Candidates {
		out = append(out, r.Identity)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
