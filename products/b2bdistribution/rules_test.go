package b2bdistribution_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/products/b2bdistribution"
)

func TestReview(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		event string
		data  map[string]string
		want  string // "allow", "skip" or a denial code
	}{
		{"approve by a reviewer", lifecycle.EventApprove, map[string]string{"reviewer": "brand-ops"}, "allow"},
		{"reject by a reviewer", lifecycle.EventReject, map[string]string{"reviewer": "brand-ops"}, "allow"},
		{"approve without data", lifecycle.EventApprove, nil, "reviewer_required"},
		{"reject with a blank reviewer", lifecycle.EventReject, map[string]string{"reviewer": "  "}, "reviewer_required"},
		{"approve with other data only", lifecycle.EventApprove, map[string]string{"note": "ok"}, "reviewer_required"},
		{"approve by the buyer", lifecycle.EventApprove, map[string]string{"reviewer": "agent-7"}, "self_review"},
		{"reject by the buyer", lifecycle.EventReject, map[string]string{"reviewer": "agent-7"}, "self_review"},
		{"pay is not a review", lifecycle.EventPay, nil, "skip"},
		{"ship is not a review", lifecycle.EventShip, map[string]string{"reviewer": "agent-7"}, "skip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := b2bdistribution.Review(t.Context(), extensions.GuardRequest{OrderID: "o-1", BizCode: "b2b.agent",
				BuyerID: "agent-7", Event: tc.event, Data: tc.data})
			switch tc.want {
			case "skip":
				if !errors.Is(err, extensions.ErrSkip) {
					t.Fatalf("verdict %+v, err %v; want ErrSkip", v, err)
				}
			case "allow":
				if err != nil || !v.Allow {
					t.Fatalf("verdict %+v, err %v; want allow", v, err)
				}
			default:
				if err != nil || v.Allow || v.Code != tc.want || v.Reason == "" {
					t.Fatalf("verdict %+v, err %v; want a denial %s with a reason", v, err, tc.want)
				}
			}
		})
	}
}

func TestCasePack(t *testing.T) {
	t.Parallel()
	lines := func(qs ...int64) []extensions.Line {
		var out []extensions.Line
		for i, q := range qs {
			out = append(out, extensions.Line{SKU: string(rune('a' + i)), Quantity: q})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		args    string
		lines   []extensions.Line
		deny    bool
		mention string
	}{
		{"default case of one takes any quantity", ``, lines(1, 7, 13), false, ""},
		{"whole cases of six", `{"caseSize": 6}`, lines(6, 12, 600), false, ""},
		{"a broken case", `{"caseSize": 6}`, lines(6, 7), true, "line b: quantity 7"},
		{"less than a case", `{"caseSize": 6}`, lines(5), true, "cases of 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check, err := b2bdistribution.NewCasePack(json.RawMessage(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			v, err := check(t.Context(), extensions.ValidateRequest{Lines: tc.lines})
			if err != nil {
				t.Fatal(err)
			}
			if v.Allow == tc.deny || tc.deny && (v.Code != "case_pack" || !strings.Contains(v.Reason, tc.mention)) {
				t.Fatalf("verdict = %+v; want deny=%v mentioning %q", v, tc.deny, tc.mention)
			}
		})
	}
	for _, args := range []string{`{"caseSize": 0}`, `{"caseSize": -6}`, `{"case": 6}`, `{"caseSize": 1.5}`} {
		if fn, err := b2bdistribution.NewCasePack(json.RawMessage(args)); err == nil || fn != nil {
			t.Errorf("factory accepted %s", args)
		}
	}
}

func TestCredit(t *testing.T) {
	t.Parallel()
	offer, err := b2bdistribution.NewCredit(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := offer(t.Context(), extensions.PaymentMethodsRequest{}); !slices.Equal(got.Methods, []string{"agent_credit"}) {
		t.Fatalf("methods = %v", got.Methods)
	}
	offer, err = b2bdistribution.NewCredit(json.RawMessage(`{"methods": ["agent_credit", "bank_transfer"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := offer(t.Context(), extensions.PaymentMethodsRequest{}); !slices.Equal(got.Methods, []string{"agent_credit", "bank_transfer"}) {
		t.Fatalf("methods = %v", got.Methods)
	}
	for _, args := range []string{`{"methods": []}`, `{"methods": ["agent_credit", "agent_credit"]}`, `{"credit": true}`} {
		if _, err := b2bdistribution.NewCredit(json.RawMessage(args)); err == nil {
			t.Errorf("factory accepted %s", args)
		}
	}
}

func TestLifecycleIsTheFullDistributionGraph(t *testing.T) {
	t.Parallel()
	p := b2bdistribution.Product()
	if p.LifecyclePatch != nil || p.Lifecycle == nil {
		t.Fatalf("lifecycle %v, patch %v", p.Lifecycle, p.LifecyclePatch)
	}
	if got, want := p.Lifecycle.Edges(), lifecycle.Default().Edges(); !slices.Equal(got, want) {
		t.Fatalf("edges:\n got %v\nwant %v", got, want)
	}
}
