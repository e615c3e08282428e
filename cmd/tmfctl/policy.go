package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tmf-platform/tmf/platform/authz"
)

// policyCommand runs "policy test DIR" and "policy check PATH".
func policyCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("policy: missing subcommand (test or check)")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return &usageError{}
	case "test":
		return policyTest(args[1:], stdout)
	case "check":
		if len(args) != 2 {
			return usagef("policy check takes exactly one PATH (a policy directory or bundle)")
		}
		return policyCheck(args[1], stdout)
	}
	return usagef("unknown policy subcommand %q", args[0])
}

// policyTest runs the Rego tests of a policy directory with coverage, as
// `opa test --coverage` does, and fails when a test fails or coverage is
// below the minimum.
func policyTest(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	minCov := fs.Float64("min-coverage", 100, "lowest coverage (percent) that passes")
	if err := fs.Parse(args); err != nil {
		return usagef("policy test: %v", err)
	}
	if fs.NArg() != 1 {
		return usagef("policy test takes exactly one DIR")
	}
	dir := fs.Arg(0)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("policy test: %s is not a directory", dir)
	}
	rep, err := authz.TestPolicies(context.Background(), os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("policy test %s: %w", dir, err)
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(stdout, "FAIL", f)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed; coverage %.1f%%\n", rep.Passed, rep.Failed, rep.Coverage)
	if rep.Coverage < *minCov && len(rep.NotCovered) > 0 {
		fmt.Fprintln(stdout, "not covered:", strings.Join(rep.NotCovered, " "))
	}
	switch {
	case rep.Failed > 0:
		return fmt.Errorf("policy test: %d of %d tests failed", rep.Failed, rep.Failed+rep.Passed)
	case rep.Passed == 0:
		return fmt.Errorf("policy test: %s has no tests (rules named test_*)", dir)
	case rep.Coverage < *minCov:
		return fmt.Errorf("policy test: coverage %.1f%% is below %.1f%%", rep.Coverage, *minCov)
	}
	return nil
}

// policyCheck loads a policy exactly as tmfd does and says whether it
// would be accepted.
func policyCheck(path string, stdout io.Writer) error {
	e, err := authz.New(context.Background(), authz.Options{Source: path})
	if err != nil {
		return fmt.Errorf("policy check: %w", err)
	}
	fmt.Fprintf(stdout, "policy %s loads (digest %s)\n", path, e.Status().Digest)
	return nil
}
