package main

import (
	"bytes"
	"errors"
	"go/format"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
)

// repoRoot is the TMF source tree this test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findTMF(wd)
	if err != nil {
		t.Fatalf("the tests run inside the TMF tree, yet: %v", err)
	}
	return root
}

// scaffoldFiles are the files of a new bizpack before go mod tidy.
var scaffoldFiles = []string{"README.md", "bizpack.json", "go.mod", "main.go", "main_test.go"}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestScaffoldWritesACheckedBizpack(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, tc := range []struct {
		name   string
		extra  []string // flags besides --dir and --no-tidy
		module string
	}{
		{"default module, tree given", []string{"--tmf", root}, "example.com/bizpacks/shop-rules"},
		// No --tmf: the tree is found by walking up from the test's
		// directory, cmd/tmfctl.
		{"own module, tree found", []string{"--module", "corp.example/trade/shop-rules"}, "corp.example/trade/shop-rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "shop-rules")
			var stdout, stderr bytes.Buffer
			args := append([]string{"bizpack", "new", "shop-rules", "--dir", dir, "--no-tidy"}, tc.extra...)
			if code := run(args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, want := range []string{"Wrote bizpack shop-rules to " + dir, "go mod tidy", "go build -o bin/shop-rules .", "tmfctl bizpack sum bin/shop-rules"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("next steps %q lack %q", stdout.String(), want)
				}
			}
			files := readDir(t, dir)
			if names := slices.Sorted(maps.Keys(files)); !slices.Equal(names, scaffoldFiles) {
				t.Fatalf("files %v, want %v", names, scaffoldFiles)
			}

			m, err := extensions.ParseManifest([]byte(files["bizpack.json"]))
			if err != nil {
				t.Fatalf("bizpack.json: %v", err)
			}
			if err := m.Check(); err != nil {
				t.Fatalf("bizpack.json: %v", err)
			}
			if m.Name != "shop-rules" || m.Version != "0.1.0" || len(m.Identities) != 0 ||
				len(m.Points) != 1 || m.Points[0].Point != extensions.OrderValidate {
				t.Fatalf("manifest = %+v", m)
			}
			if !strings.Contains(files["bizpack.json"], `"identities": []`) {
				t.Errorf("bizpack.json does not show the identities list to fill in:\n%s", files["bizpack.json"])
			}

			gomod := files["go.mod"]
			if got := modulePath([]byte(gomod)); got != tc.module {
				t.Errorf("go.mod module %q, want %q", got, tc.module)
			}
			for _, want := range []string{"\ngo 1.26.0\n", "\nrequire github.com/tmf-platform/tmf v0.0.0\n",
				"\nreplace github.com/tmf-platform/tmf => " + root + "\n"} {
				if !strings.Contains(gomod, want) {
					t.Errorf("go.mod lacks %q:\n%s", want, gomod)
				}
			}

			for name, wants := range map[string][]string{
				"main.go":      {"package main", "//go:embed bizpack.json", "extensions.ParseManifest(manifest)", "extensions.Implement(b, extensions.OrderValidate, validateOrder)", "const maxItems = 10", `"too_many_items"`, "func main() { plugin.Serve(newBizpack()) }"},
				"main_test.go": {"package main", `harness.Both(t, newBizpack(), ".")`, `m.Name != "shop-rules"`, "cases := []struct"},
				"README.md": {"# shop-rules", "go build -o bin/shop-rules .", "go test ./...", "tmfctl bizpack sum bin/shop-rules",
					"bizpacks:\n  - name: shop-rules\n    path: ./bin/shop-rules\n    sha256: ", "bizpacks: [{name: shop-rules}]", `"identities": ["retail.flash", "virtual.topup"]`},
			} {
				for _, want := range wants {
					if !strings.Contains(files[name], want) {
						t.Errorf("%s lacks %q", name, want)
					}
				}
			}
			for _, name := range []string{"main.go", "main_test.go"} {
				src, err := format.Source([]byte(files[name]))
				if err != nil || string(src) != files[name] {
					t.Errorf("%s is not gofmt-clean (%v)", name, err)
				}
			}
		})
	}
}

func TestScaffoldRefusesANonEmptyDir(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
		refused bool
	}{
		{"absent", func(*testing.T, string) {}, false},
		{"empty", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"holding a file", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a file", func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "pack")
			tc.prepare(t, dir)
			var stdout, stderr bytes.Buffer
			err := dispatch([]string{"bizpack", "new", "pack", "--dir", dir, "--tmf", root, "--no-tidy"}, &stdout, &stderr)
			var ne *DirNotEmptyError
			if !tc.refused {
				if err != nil {
					t.Fatal(err)
				}
				if len(readDir(t, dir)) != len(scaffoldFiles) {
					t.Fatalf("files = %v", readDir(t, dir))
				}
				return
			}
			if !errors.As(err, &ne) || ne.Dir != dir {
				t.Fatalf("err = %v, want a *DirNotEmptyError for %s", err, dir)
			}
			if fi, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			} else if fi.IsDir() {
				if files := readDir(t, dir); len(files) != 1 || files["main.go"] != "mine" {
					t.Fatalf("the refused directory was changed: %v", files)
				}
			} else if b, _ := os.ReadFile(dir); string(b) != "mine" {
				t.Fatalf("the refused file was changed: %q", b)
			}
		})
	}
}

// TestFindTMF builds fake trees: a TMF go.mod at the top and a bizpack
// module of its own inside it, which the walk must pass over.
func TestFindTMF(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tmf/go.mod", "// the platform\nmodule github.com/tmf-platform/tmf // not published\n\ngo 1.26.0\n")
	write("tmf/bizpacks/mine/go.mod", "module example.com/bizpacks/mine\n")
	write("tmf/bizpacks/mine/sub/x.txt", "")
	write("quoted/go.mod", "module \"github.com/tmf-platform/tmf\"\n")
	write("elsewhere/go.mod", "module github.com/tmf-platform/tmf-fork\n")
	write("elsewhere/sub/x.txt", "")
	for _, tc := range []struct {
		from string
		want string // "" for not found
	}{
		{"tmf", "tmf"},
		{"tmf/bizpacks/mine/sub", "tmf"},
		{"tmf/bizpacks/mine", "tmf"},
		{"quoted", "quoted"},
		{"elsewhere/sub", ""},
	} {
		t.Run(tc.from, func(t *testing.T) {
			got, err := findTMF(filepath.Join(base, tc.from))
			if tc.want == "" {
				var nf *TMFNotFoundError
				if !errors.As(err, &nf) || !strings.Contains(err.Error(), "pass --tmf") {
					t.Fatalf("findTMF = %q, %v; want a *TMFNotFoundError telling to pass --tmf", got, err)
				}
				return
			}
			if err != nil || got != filepath.Join(base, tc.want) {
				t.Fatalf("findTMF = %q, %v; want %s", got, err, filepath.Join(base, tc.want))
			}
		})
	}
	t.Run("--tmf must name a TMF tree", func(t *testing.T) {
		for dir, ok := range map[string]bool{
			filepath.Join(base, "tmf"):                   true,
			filepath.Join(base, "elsewhere"):             false,
			filepath.Join(base, "tmf/bizpacks/mine/sub"): false,
		} {
			_, err := tmfTree(dir)
			var nt *NotTMFError
			if ok != (err == nil) || !ok && !errors.As(err, &nt) {
				t.Errorf("tmfTree(%s) = %v, want ok=%v", dir, err, ok)
			}
		}
	})
}

func TestGoModRendering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		tmfDir  string
		replace string // the replace line expected, "" for none
	}{
		{"plain path", "/src/tmf", "replace github.com/tmf-platform/tmf => /src/tmf"},
		{"path with a space", "/home/a b/tmf", `replace github.com/tmf-platform/tmf => "/home/a b/tmf"`},
		{"windows path", `C:\src\tmf`, `replace github.com/tmf-platform/tmf => C:\src\tmf`},
		{"no tree", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render(scaffoldData{Name: "x", Module: "example.com/x", TMFModule: tmfModule, TMFDir: tc.tmfDir})
			if err != nil {
				t.Fatal(err)
			}
			gomod := string(files["go.mod"])
			if tc.replace == "" {
				if strings.Contains(gomod, "replace") {
					t.Fatalf("go.mod has a replace:\n%s", gomod)
				}
				return
			}
			if !strings.Contains(gomod, "\n"+tc.replace+"\n") {
				t.Fatalf("go.mod lacks %q:\n%s", tc.replace, gomod)
			}
		})
	}
}
