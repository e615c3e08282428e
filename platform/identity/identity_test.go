package identity

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCodeHierarchy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   Code
		parent Code
		chain  []Code
	}{
		{"virtual.topup.mobile", "virtual.topup", []Code{"virtual.topup.mobile", "virtual.topup", "virtual", Root}},
		{"virtual", Root, []Code{"virtual", Root}},
		{Root, Root, []Code{Root}},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			if got := tc.code.Parent(); got != tc.parent {
				t.Errorf("Parent = %q, want %q", got, tc.parent)
			}
			if got := tc.code.Chain(); !slices.Equal(got, tc.chain) {
				t.Errorf("Chain = %q, want %q", got, tc.chain)
			}
		})
	}
	for _, tc := range []struct {
		a, b Code
		want bool
	}{
		{"virtual", "virtual.topup", true},
		{Root, "virtual", true},
		{"virtual", "virtual", false},
		{"virtual", "virtualx.topup", false},
		{"virtual.topup", "virtual", false},
	} {
		if got := tc.a.IsAncestorOf(tc.b); got != tc.want {
			t.Errorf("%q.IsAncestorOf(%q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCodeValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code Code
		bad  string // empty: valid
	}{
		{"virtual.topup.mobile", ""},
		{"b2b-distribution.agent_1", ""},
		{Root, ""},
		{"Virtual", "lowercase letter"},
		{"virtual..topup", "empty segment"},
		{".virtual", "empty segment"},
		{"virtual.", "empty segment"},
		{"1virtual", "lowercase letter"},
		{"virtual topup", "use lowercase"},
		{"a.b.c.d.e.f.g.h.i", "deeper than 8"},
		{Code(strings.Repeat("a", 129)), "longer than 128"},
	} {
		err := tc.code.Validate()
		if tc.bad == "" && err != nil {
			t.Errorf("%q: %v", tc.code, err)
		}
		if tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%q: err %v, want one mentioning %q", tc.code, err, tc.bad)
		}
	}
}

var known = []Code{"retail", "virtual", "virtual.topup", "virtual.topup.mobile", "virtual.ticket", "b2b"}

func TestResolve(t *testing.T) {
	t.Parallel()
	r, err := NewResolver(known, []Rule{
		{Identity: "retail"}, // the catch-all
		{Identity: "virtual", Category: "virtual"},
		{Identity: "virtual.topup", Category: "topup"},
		{Identity: "virtual.topup.mobile", Category: "topup", Channel: "mobile-app"},
		{Identity: "virtual.ticket", Category: "ticket"},
		{Identity: "b2b", Buyer: map[string]string{"role": "agent"}},
		{Identity: "virtual.ticket", Channel: "kiosk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  Request
		want Code
		err  string // "ambiguous", "nomatch", "unknown"
		cand []Code
	}{
		{"explicit code wins over rules", Request{BizCode: "b2b", Categories: []string{"topup"}}, "b2b", "", nil},
		{"explicit unknown code", Request{BizCode: "nope"}, "", "unknown", nil},
		{"catch-all", Request{Channel: "web", Categories: []string{"phone"}}, "retail", "", nil},
		{"category", Request{Categories: []string{"topup", "topup"}}, "virtual.topup", "", nil},
		{"most specific wins", Request{Channel: "mobile-app", Categories: []string{"topup"}}, "virtual.topup.mobile", "", nil},
		{"mixed cart does not match a category rule", Request{Categories: []string{"topup", "ticket"}}, "retail", "", nil},
		{"buyer attribute", Request{Categories: []string{"phone"}, Buyer: map[string]string{"role": "agent"}}, "b2b", "", nil},
		{"equal specificity, different identities", Request{Categories: []string{"topup"}, Buyer: map[string]string{"role": "agent"}},
			"", "ambiguous", []Code{"b2b", "virtual.topup"}},
		{"equally specific rules naming one identity are not ambiguous", Request{Channel: "kiosk", Categories: []string{"ticket"}},
			"virtual.ticket", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(tc.req)
			switch tc.err {
			case "":
				if err != nil || got != tc.want {
					t.Fatalf("Resolve = %q, %v; want %q", got, err, tc.want)
				}
			case "ambiguous":
				var ae *AmbiguousError
				if !errors.As(err, &ae) || !slices.Equal(ae.Identities(), tc.cand) {
					t.Fatalf("err = %v, want ambiguity between %v", err, tc.cand)
				}
				for _, c := range tc.cand {
					if !strings.Contains(err.Error(), string(c)) {
						t.Errorf("message %q does not name %s", err, c)
					}
				}
			case "unknown":
				var ue *UnknownError
				if !errors.As(err, &ue) {
					t.Fatalf("err = %v", err)
				}
			}
		})
	}
}

func TestResolveWithoutMatch(t *testing.T) {
	t.Parallel()
	r, err := NewResolver(known, []Rule{{Identity: "virtual.topup", Category: "topup"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(Request{Channel: "web", Categories: []string{"phone"}})
	var ne *NoMatchError
	if !errors.As(err, &ne) || ne.Rules != 1 || !strings.Contains(err.Error(), "phone") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewResolverReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := NewResolver([]Code{"a", "Bad"}, []Rule{
		{Identity: "a", Channel: "web"},
		{Identity: "x", Channel: "web"},
		{Identity: "a", Channel: "app", Buyer: map[string]string{"k": "v"}},
	})
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
	_, err = NewResolver([]Code{"a", "b"}, []Rule{{Identity: "a", Channel: "web"}, {Identity: "b", Channel: "web"}})
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "same conditions") {
		t.Fatalf("identical conditions for two identities: %v", err)
	}
}

// A rule takes traffic from the identities of the rules it overlaps and is
// at least as specific as.
func TestTakesFrom(t *testing.T) {
	t.Parallel()
	rules := []Rule{{Identity: "virtual.topup", Category: "topup"}, {Identity: "retail.vip", Buyer: map[string]string{"tier": "vip"}},
		{Identity: "retail"}, {Identity: "b2b", Channel: "b2b", Buyer: map[string]string{"tier": "gold"}}}
	for _, tc := range []struct {
		name  string
		added Rule
		want  []Code
	}{
		{"catch-all", Rule{Identity: "mine"}, []Code{"retail"}},
		{"one condition", Rule{Identity: "mine", Channel: "app"}, []Code{"retail", "retail.vip", "virtual.topup"}},
		{"more specific than vip", Rule{Identity: "mine", Channel: "app", Buyer: map[string]string{"tier": "vip"}},
			[]Code{"retail", "retail.vip", "virtual.topup"}},
		{"as specific as b2b", Rule{Identity: "mine", Channel: "b2b", Category: "bulk"}, []Code{"b2b", "retail", "retail.vip"}},
		{"disjoint from vip and b2b", Rule{Identity: "mine", Channel: "web", Buyer: map[string]string{"tier": "basic"}},
			[]Code{"retail", "virtual.topup"}},
		{"its own identity's rules do not count", Rule{Identity: "retail", Channel: "app"}, []Code{"retail.vip", "virtual.topup"}},
	} {
		if got := TakesFrom(rules, tc.added); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}
