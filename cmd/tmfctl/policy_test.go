package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/authz"
)

// shippedPolicy copies the shipped policy (with its tests) into a fresh
// directory, for a test to change.
func shippedPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, authz.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	shipped := shippedPolicy(t)

	failing := shippedPolicy(t)
	write(t, filepath.Join(failing, "wrong_test.rego"), `package tmf.authz_test

import data.tmf.authz

test_buyers_administer if {
	authz.allow with input as {"principal": {"id": "alice", "roles": ["buyer"]}, "action": "admin.skus.write"}
}
`)
	uncovered := shippedPolicy(t)
	write(t, filepath.Join(uncovered, "extra.rego"), `package tmf.authz

never_tested if {
	input.principal.id == "nobody"
}
`)
	broken := shippedPolicy(t)
	write(t, filepath.Join(broken, "broken.rego"), "package tmf.authz\n\nallow if {\n")
	untested := t.TempDir()
	if err := fs.WalkDir(authz.DefaultPolicy(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(authz.DefaultPolicy(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(untested, filepath.Base(p)), b, 0o644)
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"shipped policy passes at 100%", []string{"policy", "test", shipped}, exitOK, "0 failed; coverage 100.0%", ""},
		{"a failing test fails", []string{"policy", "test", failing}, exitFail, "FAIL data.tmf.authz_test.test_buyers_administer", "1 of"},
		{"an untested rule fails the coverage", []string{"policy", "test", uncovered}, exitFail, "extra.rego:", "below 100.0%"},
		{"a lower minimum passes it", []string{"policy", "test", "--min-coverage", "90", uncovered}, exitOK, "0 failed", ""},
		{"a policy without tests fails", []string{"policy", "test", untested}, exitFail, "0 passed", "has no tests"},
		{"a policy that does not parse fails", []string{"policy", "test", broken}, exitFail, "", "broken.rego"},
		{"check loads the shipped policy", []string{"policy", "check", shipped}, exitOK, "loads (digest", ""},
		{"check refuses a broken one", []string{"policy", "check", broken}, exitFail, "", "broken.rego"},
		{"policy alone", []string{"policy"}, exitUsage, "", "missing subcommand"},
		{"unknown subcommand", []string{"policy", "frob"}, exitUsage, "", `unknown policy subcommand "frob"`},
		{"test of a file", []string{"policy", "test", filepath.Join(shipped, "visible.rego")}, exitFail, "", "is not a directory"},
		{"test of two dirs", []string{"policy", "test", shipped, shipped}, exitUsage, "", "exactly one DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tc.stdout, stderr.String(), tc.stderr)
			}
		})
	}
}
