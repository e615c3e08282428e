package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedBizpackVetsAndPasses is the acceptance test of "bizpack new":
// a bizpack scaffolded (and tidied) into an empty directory passes go vet
// and its own test, plugin process included, with no edit. It needs the
// module cache or the module proxy; when go mod tidy cannot reach them the
// test is skipped with the cause, and any other failure fails it.
func TestGeneratedBizpackVetsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: does not build and test a generated module")
	}
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "order-limit")
	var stdout, stderr bytes.Buffer
	err := dispatch([]string{"bizpack", "new", "order-limit", "--dir", dir, "--tmf", root}, &stdout, &stderr)
	var te *TidyError
	switch {
	case errors.As(err, &te) && networkFailure(te.Output):
		t.Skipf("go mod tidy could not fetch modules (no network or module proxy): %v", te)
	case err != nil:
		t.Fatalf("bizpack new: %v\nstdout:\n%s", err, stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		t.Fatalf("go mod tidy left no go.sum: %v", err)
	}

	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	for _, args := range [][]string{
		{"vet", "./..."},
		{"test", "-count=1", "./..."},
	} {
		cmd := exec.Command(goTool(), args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the generated bizpack: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "test" && !strings.Contains(string(out), "ok  \texample.com/bizpacks/order-limit") {
			t.Fatalf("go test did not report the bizpack's package as passing:\n%s", out)
		}
	}
}

// networkSymptoms are what the go command prints when it cannot reach a
// module proxy or source host, or may not.
var networkSymptoms = []string{
	"dial tcp",
	"no such host",
	"connection refused",
	"connection reset",
	"network is unreachable",
	"i/o timeout",
	"TLS handshake timeout",
	"temporary failure in name resolution",
	"proxyconnect",
	"module lookup disabled by GOPROXY=off",
}

// networkFailure reports whether output of the go command shows a failure
// to reach the network, as opposed to a problem of the module itself.
func networkFailure(output string) bool {
	lower := strings.ToLower(output)
	for _, s := range networkSymptoms {
		if strings.Contains(lower, strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func TestNetworkFailureIsNarrow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		output string
		want   bool
	}{
		{`google.golang.org/protobuf@v1.36.12: Get "https://proxy.golang.org/google.golang.org/protobuf/@v/v1.36.12.zip": dial tcp: lookup proxy.golang.org: no such host`, true},
		{`Get "http://127.0.0.1:1/x/@v/list": dial tcp 127.0.0.1:1: connect: connection refused`, true},
		{`google.golang.org/protobuf/runtime/protoimpl: module lookup disabled by GOPROXY=off`, true},
		{`net/http: TLS handshake timeout`, true},
		{`go: example.com/bizpacks/x imports github.com/tmf-platform/tmf/extensions/nope: cannot find module providing package`, false},
		{`go: errors parsing go.mod: go.mod:3: unknown directive: requir`, false},
		{`reading ../tmf/go.mod: open ../tmf/go.mod: no such file or directory`, false},
		{`verifying google.golang.org/grpc@v1.85.0: checksum mismatch`, false},
	} {
		if got := networkFailure(tc.output); got != tc.want {
			t.Errorf("networkFailure(%q) = %v, want %v", tc.output, got, tc.want)
		}
	}
}
