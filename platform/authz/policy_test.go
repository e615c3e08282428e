package authz

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
)

// The shipped policy's Rego tests must all pass and cover every line: this is
// `opa test --coverage` at 100%, run by `make test`.
func TestShippedPolicyTestsPassWithFullCoverage(t *testing.T) {
	t.Parallel()
	r, err := TestPolicies(context.Background(), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 0 {
		t.Errorf("%d Rego tests failed:\n%v", r.Failed, r.Failures)
	}
	if r.Passed < 10 {
		t.Errorf("only %d Rego tests passed; the policy tests were not found", r.Passed)
	}
	if r.Coverage != 100 || len(r.NotCovered) > 0 {
		t.Errorf("coverage %.2f%%, want 100%%; not covered: %v", r.Coverage, r.NotCovered)
	}
}

// TestPolicies must report failing tests, failing cases and uncovered lines,
// or the test above could not fail.
func TestTestPoliciesReportsFailuresAndGaps(t *testing.T) {
	r, err := TestPolicies(context.Background(), os.DirFS("testdata/failing_tests"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed != 1 || r.Failed != 2 {
		t.Errorf("passed/failed = %d/%d, want 1/2", r.Passed, r.Failed)
	}
	wantFailures := []string{
		`data.tmf.authz_test.test_catalog_denied (policy_test.rego:10): failed`,
		`data.tmf.authz_test.test_visible (policy_test.rego:20): case "alice sees" failed`,
	}
	if !slices.Equal(r.Failures, wantFailures) {
		t.Errorf("failures\n got %q\nwant %q", r.Failures, wantFailures)
	}
	if r.Coverage >= 100 || r.Coverage <= 0 {
		t.Errorf("coverage = %v, want strictly between 0 and 100", r.Coverage)
	}
	if !slices.Contains(r.NotCovered, "policy.rego:12") {
		t.Errorf("not covered = %v, want the untested rule policy.rego:12 among them", r.NotCovered)
	}
}

func TestTestPoliciesRefusesBrokenPolicy(t *testing.T) {
	_, err := TestPolicies(context.Background(), os.DirFS("testdata/syntax_error"))
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("err = %v, want ErrInvalidPolicy", err)
	}
}
