package extensions_test

import (
	"bufio"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The import rule of the layout: extensions/ is the contract
// bizpack authors build against, so it imports no other package of this
// module; bizpacks/ are built and shipped on their own, so they import only
// extensions/ and its sub-packages. Go itself enforces neither.

// importViolations returns, for one file at rel (slash-separated, relative
// to the module root), each import of imports that breaks the rule of the
// tree the file is in: under extensions/ and bizpacks/ a file may import
// packages of other modules freely, and of module only module/extensions
// and its sub-packages. Files elsewhere have no rule here.
func importViolations(module, rel string, imports []string) []string {
	var tree string
	switch {
	case strings.HasPrefix(rel, "extensions/"):
		tree = "extensions/"
	case strings.HasPrefix(rel, "bizpacks/"):
		tree = "bizpacks/"
	default:
		return nil
	}
	allowed := module + "/extensions"
	// A bizpack may import its own sub-packages (bizpacks/<name>/...): they
	// are the bizpack's code, not the platform's.
	own := ""
	if parts := strings.SplitN(rel, "/", 3); tree == "bizpacks/" && len(parts) == 3 {
		own = module + "/bizpacks/" + parts[1]
	}
	var out []string
	for _, p := range imports {
		inModule := p == module || strings.HasPrefix(p, module+"/")
		if !inModule || p == allowed || strings.HasPrefix(p, allowed+"/") || own != "" && strings.HasPrefix(p, own+"/") {
			continue
		}
		out = append(out, fmt.Sprintf("%s: a file under %s imports %s; it may import only %s and its sub-packages of this module",
			rel, tree, p, allowed))
	}
	return out
}

func TestImportViolations(t *testing.T) {
	const mod = "github.com/tmf-platform/tmf"
	cases := []struct {
		name    string
		file    string
		imports []string
		want    []string // the violating imports
	}{
		{"extensions imports only the standard library and other modules", "extensions/bizpack.go",
			[]string{"context", "github.com/hashicorp/go-plugin", "google.golang.org/grpc"}, nil},
		{"extensions imports its own sub-packages", "extensions/plugin/serve.go",
			[]string{mod + "/extensions", mod + "/extensions/internal/wire"}, nil},
		{"extensions imports the kernel", "extensions/plugin/serve.go",
			[]string{mod + "/extensions", mod + "/platform/kernel"}, []string{mod + "/platform/kernel"}},
		{"extensions imports a domain", "extensions/harness/harness.go",
			[]string{mod + "/domains/stock"}, []string{mod + "/domains/stock"}},
		{"extensions imports the module root", "extensions/x.go", []string{mod}, []string{mod}},
		{"a bizpack imports the SDK", "bizpacks/flash-sale/main.go",
			[]string{mod + "/extensions", mod + "/extensions/plugin", mod + "/extensions/harness", "sync"}, nil},
		{"a bizpack imports the platform", "bizpacks/flash-sale/main.go",
			[]string{mod + "/extensions", mod + "/platform/lifecycle"}, []string{mod + "/platform/lifecycle"}},
		{"a bizpack test imports a product", "bizpacks/b2b-distribution/tiers_test.go",
			[]string{mod + "/products/b2bdistribution", mod + "/cmd/tmfd"},
			[]string{mod + "/products/b2bdistribution", mod + "/cmd/tmfd"}},
		{"a bizpack imports its own sub-package", "bizpacks/virtual-topup/fulfil.go",
			[]string{mod + "/bizpacks/virtual-topup/supplier"}, nil},
		{"a bizpack imports another bizpack's package", "bizpacks/flash-sale/main.go",
			[]string{mod + "/bizpacks/virtual-topup/supplier"}, []string{mod + "/bizpacks/virtual-topup/supplier"}},
		{"a look-alike of extensions is not extensions", "bizpacks/x/main.go",
			[]string{mod + "/extensionsx", mod + "/extensions_test"}, []string{mod + "/extensionsx", mod + "/extensions_test"}},
		{"a look-alike of the module is another module", "bizpacks/x/main.go",
			[]string{mod + "-contrib/platform", mod + "x/kernel"}, nil},
		{"files elsewhere have no rule here", "platform/kernel/bizpack.go",
			[]string{mod + "/platform/lifecycle"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := importViolations(mod, c.file, c.imports)
			if len(got) != len(c.want) {
				t.Fatalf("violations = %q, want one for each of %q", got, c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], " imports "+w+";") || !strings.HasPrefix(got[i], c.file+":") {
					t.Errorf("violation %d = %q, want it to name %s and %s", i, got[i], c.file, w)
				}
			}
		})
	}
}

// TestImportRule parses every .go file under extensions/ and bizpacks/
// (tests and testdata included) and checks its imports.
func TestImportRule(t *testing.T) {
	root, module := moduleRoot(t)
	fset := token.NewFileSet()
	seen := map[string]int{}
	for _, tree := range []string{"extensions", "bizpacks"} {
		err := filepath.WalkDir(filepath.Join(root, tree), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			var imports []string
			for _, spec := range f.Imports {
				p, err := strconv.Unquote(spec.Path.Value)
				if err != nil {
					return fmt.Errorf("%s: import %s: %w", path, spec.Path.Value, err)
				}
				imports = append(imports, p)
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			for _, v := range importViolations(module, filepath.ToSlash(rel), imports) {
				t.Error(v)
			}
			seen[tree]++
			return nil
		})
		if err != nil {
			t.Fatalf("walking %s: %v", tree, err)
		}
	}
	// A walk that found nothing would pass whatever the files import.
	for _, tree := range []string{"extensions", "bizpacks"} {
		if seen[tree] == 0 {
			t.Errorf("no .go file found under %s/ of %s", tree, root)
		}
	}
}

// moduleRoot walks up from the test's directory to the go.mod and returns
// its directory and module path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
					module = strings.Trim(strings.TrimSpace(rest), `"`)
					return dir, module
				}
			}
			t.Fatalf("%s/go.mod names no module (%v)", dir, s.Err())
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
