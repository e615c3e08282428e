// Package schemagen generates the JSON Schemas of the bizpack contract
// (extensions/schema/*.json) from the Go types of package extensions and
// the doc comments of its source: one schema per type that is a point's
// request or response, one for the manifest, and points.json, the table of
// every point with its two schemas. The schemas describe the JSON a host
// and a bizpack exchange (json tags; omitempty fields are optional) and
// allow further properties, as a newer minor version may add fields.
package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
)

// BaseID prefixes every schema's $id.
const BaseID = "https://github.com/tmf-platform/tmf/blob/main/extensions/schema/"

// docs are the doc comments of extensions' types and their fields.
type docs struct {
	types  map[string]string
	fields map[string]map[string]string // type → Go field name → doc
}

func readDocs(dir string) (docs, error) {
	d := docs{types: map[string]string{}, fields: map[string]map[string]string{}}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		return d, err
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					text := ts.Doc.Text()
					if text == "" {
						text = gd.Doc.Text()
					}
					d.types[ts.Name.Name] = clean(text)
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					fd := map[string]string{}
					for _, fl := range st.Fields.List {
						text := fl.Doc.Text()
						if text == "" {
							text = fl.Comment.Text()
						}
						for _, n := range fl.Names {
							fd[n.Name] = clean(text)
						}
					}
					d.fields[ts.Name.Name] = fd
				}
			}
		}
	}
	return d, nil
}

func clean(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Files returns every schema file by name, generated from the types and
// from the doc comments of the Go source in srcDir (extensions/).
func Files(srcDir string) (map[string][]byte, error) {
	d, err := readDocs(srcDir)
	if err != nil {
		return nil, err
	}
	roots := map[string]reflect.Type{"Manifest": reflect.TypeFor[extensions.Manifest]()}
	type pointEntry struct {
		Point    string `json:"point"`
		Request  string `json:"request"`
		Response string `json:"response"`
	}
	var index []pointEntry
	for _, p := range extensions.Points() {
		req, resp, _ := extensions.PointGoTypes(p.Point)
		roots[req.Name()], roots[resp.Name()] = req, resp
		index = append(index, pointEntry{Point: p.Point, Request: req.Name() + ".json", Response: resp.Name() + ".json"})
	}
	out := map[string][]byte{}
	for name, t := range roots {
		g := &gen{docs: d, defs: map[string]any{}}
		s := g.object(t)
		s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		s["$id"] = BaseID + name + ".json"
		s["title"] = name
		if len(g.defs) > 0 {
			s["$defs"] = g.defs
		}
		b, err := marshal(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name+".json"] = b
	}
	b, err := marshal(map[string]any{
		"$comment": "Every extension point of protocol " + fmt.Sprintf("%d.%d", extensions.ProtocolMajor, extensions.ProtocolMinor) +
			" with the schemas of its request and response (files beside this one).",
		"protocol": fmt.Sprintf("%d.%d", extensions.ProtocolMajor, extensions.ProtocolMinor),
		"points":   index,
	})
	if err != nil {
		return nil, err
	}
	out["points.json"] = b
	return out, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return buf.Bytes(), err
}

type gen struct {
	docs docs
	defs map[string]any
}

// object is the schema of a struct type, inline.
func (g *gen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if doc := g.docs.fields[t.Name()][f.Name]; doc != "" {
			s["description"] = doc
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	if doc := g.docs.types[t.Name()]; doc != "" {
		s["description"] = doc
	}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

// schema is the schema of any type: structs by reference into $defs.
func (g *gen) schema(t reflect.Type) map[string]any {
	nullable := false
	if t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch t.Kind() {
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // break cycles
			g.defs[t.Name()] = g.object(t)
		}
		s = map[string]any{"$ref": "#/$defs/" + t.Name()}
		if nullable {
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
		return s
	case reflect.String:
		s = map[string]any{"type": "string"}
	case reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s = map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		s = map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s = map[string]any{"type": "string", "contentEncoding": "base64"}
		} else {
			s = map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
		}
	case reflect.Map:
		s = map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	default:
		s = map[string]any{}
	}
	if nullable {
		if ty, ok := s["type"].(string); ok {
			s["type"] = []string{ty, "null"}
		}
	}
	return s
}

// Write writes Files(srcDir) into dir, removing *.json files there that
// are no longer generated.
func Write(srcDir, dir string) error {
	files, err := Files(srcDir)
	if err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range old {
		if _, ok := files[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
