package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// The templates of a new bizpack: templates/F.tmpl becomes the file F. They
// use [[ ]] as delimiters, because Go composite literals such as
// []extensions.Line{{SKU: "a"}} are full of {{.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Delims("[[", "]]").
	Funcs(template.FuncMap{"gomodPath": gomodPath}).
	ParseFS(templateFS, "templates/*.tmpl"))

// scaffoldData is what the templates see.
type scaffoldData struct {
	Name      string // the bizpack's name, also its binary's
	Module    string // its Go module path
	TMFModule string // github.com/tmf-platform/tmf
	TMFDir    string // absolute path of the TMF source tree, or "" for no replace
}

// goVersion is the go directive of a generated go.mod: the TMF module's.
const goVersion = "1.26.0"

// scaffold writes the files of a new bizpack into dir, which must not
// exist or be empty. Every file is rendered (and Go files formatted)
// before the first is written, so a template error leaves nothing behind.
func scaffold(dir string, d scaffoldData) error {
	files, err := render(d)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return &DirNotEmptyError{Dir: dir}
		}
		return err
	case len(entries) > 0:
		return &DirNotEmptyError{Dir: dir}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("writing the bizpack: %w", err)
		}
	}
	return nil
}

// render renders every template, keyed by the name of the file it becomes.
func render(d scaffoldData) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, t := range templates.Templates() {
		name, ok := strings.CutSuffix(t.Name(), ".tmpl")
		if !ok {
			continue
		}
		var b bytes.Buffer
		if err := t.Execute(&b, struct {
			scaffoldData
			GoVersion string
		}{d, goVersion}); err != nil {
			return nil, fmt.Errorf("template %s: %w", t.Name(), err)
		}
		out := b.Bytes()
		if strings.HasSuffix(name, ".go") {
			src, err := format.Source(out)
			if err != nil {
				return nil, fmt.Errorf("template %s renders Go that does not parse: %w", t.Name(), err)
			}
			out = src
		}
		files[name] = out
	}
	return files, nil
}

var gomodBare = regexp.MustCompile(`^[A-Za-z0-9._~+/\\:@-]+$`)

// gomodPath writes a path as a go.mod token: bare when it can be, quoted
// when it holds spaces or other characters go.mod would misread.
func gomodPath(p string) string {
	if gomodBare.MatchString(p) && !strings.Contains(p, "//") {
		return p
	}
	return strconv.Quote(p)
}
