package authz

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestReport is the outcome of TestPolicies.
type TestReport struct {
	Passed, Failed int
	// Failures names each failed or erroring test (and failed test case),
	// with its location.
	Failures []string
	// Coverage is the percentage (0–100) of policy and test lines evaluated,
	// as `opa test --coverage` computes it.
	Coverage float64
	// NotCovered lists the lines never evaluated, as "file:line", by file.
	NotCovered []string
}

// policyTestTimeout bounds each Rego test. `opa test` uses 5 s; a test of
// the shipped policy takes milliseconds, but under the race detector on a
// busy 2-core machine one took longer than 5 s, and the limit is there to
// stop a test that loops, not to time a slow machine.
const policyTestTimeout = time.Minute

// TestPolicies runs the Rego tests (rules named test_*, usually in
// *_test.rego files) of the policy set in fsys with OPA's tester, measuring
// coverage. It is `opa test --coverage` for a policy set: pass DefaultPolicy()
// for the shipped one, os.DirFS(dir) for a directory. The error reports a
// policy set that does not load or compile; failing tests are in the report.
func TestPolicies(ctx context.Context, fsys fs.FS) (TestReport, error) {
	loaded, err := loader.NewFileLoader().
		WithFS(fsys).
		WithRegoVersion(ast.RegoV1).
		All([]string{"."})
	if err != nil {
		return TestReport{}, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	modules := loaded.ParsedModules()
	store, err := loaded.Store()
	if err != nil {
		return TestReport{}, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}

	cov := cover.New()
	var report TestReport
	err = storage.Txn(ctx, store, storage.TransactionParams{}, func(txn storage.Transaction) error {
		compiler := ast.NewCompiler().
			WithDefaultRegoVersion(ast.RegoV1).
			WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
		ch, err := tester.NewRunner().
			SetCompiler(compiler).
			SetStore(store).
			SetModules(modules).
			SetDefaultRegoVersion(ast.RegoV1).
			SetCoverageQueryTracer(cov).
			SetTimeout(policyTestTimeout).
			RunTests(ctx, txn)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
		}
		for r := range ch {
			if r.Skip {
				continue
			}
			if r.Pass() {
				report.Passed++
				continue
			}
			report.Failed++
			report.Failures = append(report.Failures, describeFailure(r)...)
		}
		return nil
	})
	if err != nil {
		return TestReport{}, err
	}
	slices.Sort(report.Failures)

	cr := cov.Report(modules)
	report.Coverage = cr.Coverage
	for _, file := range slices.Sorted(maps.Keys(cr.Files)) {
		seen := map[int]bool{} // a rule head and its body may share a line
		for _, rng := range cr.Files[file].NotCovered {
			for row := rng.Start.Row; row <= rng.End.Row; row++ {
				if !seen[row] {
					seen[row] = true
					report.NotCovered = append(report.NotCovered, fmt.Sprintf("%s:%d", file, row))
				}
			}
		}
	}
	return report, nil
}

// describeFailure names a failed test and, for a parameterised test, each of
// its failed cases.
func describeFailure(r *tester.Result) []string {
	name := r.Package + "." + r.Name
	if r.Location != nil {
		name = fmt.Sprintf("%s (%s:%d)", name, r.Location.File, r.Location.Row)
	}
	if r.Error != nil {
		return []string{fmt.Sprintf("%s: error: %v", name, r.Error)}
	}
	var out []string
	for path, sub := range r.SubResults.Iter {
		if sub.Fail && len(sub.SubResults) == 0 {
			out = append(out, fmt.Sprintf("%s: case %q failed", name, strings.Join(path, " / ")))
		}
	}
	if len(out) == 0 {
		out = append(out, name+": failed")
	}
	return out
}
