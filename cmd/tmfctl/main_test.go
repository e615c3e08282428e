package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
)

func TestRunExitCodesAndMessages(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stderr     string // a substring of stderr
		wantUsage  bool   // stderr holds the usage text
		wantStdout string // a substring of stdout ("" for none at all)
	}{
		{"no arguments", nil, exitUsage, "usage: tmfctl", true, ""},
		{"help", []string{"help"}, exitUsage, "usage: tmfctl", true, ""},
		{"--help", []string{"--help"}, exitUsage, "usage: tmfctl", true, ""},
		{"unknown command", []string{"frob"}, exitUsage, `unknown command "frob"`, true, ""},
		{"bizpack alone", []string{"bizpack"}, exitUsage, "missing subcommand", true, ""},
		{"bizpack help", []string{"bizpack", "help"}, exitUsage, "usage: tmfctl", true, ""},
		{"unknown bizpack subcommand", []string{"bizpack", "frob"}, exitUsage, `unknown bizpack subcommand "frob"`, true, ""},
		{"sum without a file", []string{"bizpack", "sum"}, exitUsage, "exactly one FILE", true, ""},
		{"sum of two files", []string{"bizpack", "sum", "a", "b"}, exitUsage, "exactly one FILE", true, ""},
		{"sum of a missing file", []string{"bizpack", "sum", missing}, exitFail, "no such file", false, ""},
		{"sum of a directory", []string{"bizpack", "sum", t.TempDir()}, exitFail, "is a directory", false, ""},
		{"new without a name", []string{"bizpack", "new"}, exitUsage, "missing NAME", true, ""},
		{"new with a bad name", []string{"bizpack", "new", "Flash_Sale"}, exitUsage, `"Flash_Sale" must be lowercase`, true, ""},
		{"new with two names", []string{"bizpack", "new", "a", "b"}, exitUsage, "one NAME, got a b", true, ""},
		{"new with an unknown flag", []string{"bizpack", "new", "a", "--nope"}, exitUsage, "not defined: -nope", true, ""},
		{"new -h", []string{"bizpack", "new", "-h"}, exitUsage, "usage: tmfctl", true, ""},
		{"new with a bad module path", []string{"bizpack", "new", "a", "--module", "my module"}, exitUsage, "not a Go module path", true, ""},
		{"new against a tree that is not TMF", []string{"bizpack", "new", "a", "--dir", filepath.Join(t.TempDir(), "a"), "--tmf", t.TempDir(), "--no-tidy"},
			exitFail, "is not a TMF source tree", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if got := strings.Contains(stderr.String(), "usage: tmfctl"); got != tc.wantUsage {
				t.Errorf("usage printed = %v, want %v; stderr:\n%s", got, tc.wantUsage, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestSumPrintsTheSHA256(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		content string
		want    string // FIPS 180-2 test vectors
	}{
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		path := filepath.Join(t.TempDir(), "bin")
		if err := os.WriteFile(path, []byte(tc.content), 0o755); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"bizpack", "sum", path}, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if got := stdout.String(); got != tc.want+"\n" {
			t.Errorf("sum of %q = %q, want %q", tc.content, got, tc.want)
		}
	}
}

// TestNameRule checks the names tmfctl accepts, and that they are exactly
// the names the manifest check accepts.
func TestNameRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"flash-sale", true},
		{"a", true},
		{"b2b-distribution", true},
		{"x1-2-y3", true},
		{"", false},
		{"Flash", false},
		{"1pack", false},
		{"-pack", false},
		{"pack-", false},
		{"pack--x", false},
		{"pack_x", false},
		{"pack.x", false},
		{"pack x", false},
		{"pack/x", false},
		{"päck", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkName(tc.name)
			var ne *NameError
			if tc.ok != (err == nil) {
				t.Fatalf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && (!errors.As(err, &ne) || ne.Name != tc.name) {
				t.Fatalf("checkName(%q) = %#v, want a *NameError naming it", tc.name, err)
			}
			m := extensions.Manifest{Name: tc.name, Version: "0.1.0", Points: []extensions.PointTypes{{Point: extensions.OrderValidate}}}
			if manifestOK := m.Check() == nil; manifestOK != tc.ok {
				t.Fatalf("the manifest check says ok=%v for %q, tmfctl says %v: the rules differ", manifestOK, tc.name, tc.ok)
			}
		})
	}
}

func TestParseNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want newOptions
		err  string
	}{
		{"defaults", []string{"shop"},
			newOptions{Name: "shop", Dir: "shop", Module: "example.com/bizpacks/shop"}, ""},
		{"flags after the name", []string{"shop", "--dir", "x/y", "--module", "corp.example/team/shop", "--tmf", "/src/tmf", "--no-tidy"},
			newOptions{Name: "shop", Dir: "x/y", Module: "corp.example/team/shop", TMF: "/src/tmf", NoTidy: true}, ""},
		{"flags before the name", []string{"--no-tidy", "--dir=d", "shop"},
			newOptions{Name: "shop", Dir: "d", Module: "example.com/bizpacks/shop", NoTidy: true}, ""},
		{"flags around the name", []string{"--dir", "d", "shop", "--module", "m.example/shop"},
			newOptions{Name: "shop", Dir: "d", Module: "m.example/shop"}, ""},
		{"module path with a trailing slash", []string{"shop", "--module", "m.example/shop/"}, newOptions{}, "not a Go module path"},
		{"module path with a double slash", []string{"shop", "--module", "m.example//shop"}, newOptions{}, "not a Go module path"},
		{"module path with a quote", []string{"shop", "--module", `m.example/"shop"`}, newOptions{}, "not a Go module path"},
		{"flag without its value", []string{"shop", "--dir"}, newOptions{}, "needs an argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNew(tc.args)
			if tc.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a usage error with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
