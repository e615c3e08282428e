package catalog

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions/schema"
)

// typeSchema is the part of a JSON Schema of extensions/schema the
// catalogue shows.
type typeSchema struct {
	Description string                 `json:"description"`
	Properties  map[string]fieldSchema `json:"properties"`
	Required    []string               `json:"required"`
	Defs        map[string]typeSchema  `json:"$defs"`
}

type fieldSchema struct {
	Description          string          `json:"description"`
	Type                 json.RawMessage `json:"type"`
	Ref                  string          `json:"$ref"`
	AnyOf                []fieldSchema   `json:"anyOf"`
	Items                *fieldSchema    `json:"items"`
	AdditionalProperties *fieldSchema    `json:"additionalProperties"`
}

// jsonType renders a field's type: "string", "array of Line", "map of
// string", "Address or null".
func (f fieldSchema) jsonType() string {
	if f.Ref != "" {
		name := strings.TrimPrefix(f.Ref, "#/$defs/")
		return fmt.Sprintf("[%s](#type-%s)", name, strings.ToLower(name))
	}
	if len(f.AnyOf) > 0 {
		parts := make([]string, len(f.AnyOf))
		for i, a := range f.AnyOf {
			parts[i] = a.jsonType()
		}
		return strings.Join(parts, " or ")
	}
	var one string
	var many []string
	if json.Unmarshal(f.Type, &one) != nil {
		_ = json.Unmarshal(f.Type, &many)
		many = slices.DeleteFunc(many, func(s string) bool { return s == "null" })
		if len(many) > 0 {
			one = many[0]
		}
	}
	switch {
	case one == "array" && f.Items != nil:
		return "array of " + f.Items.jsonType()
	case one == "object" && f.AdditionalProperties != nil:
		return "map of " + f.AdditionalProperties.jsonType()
	}
	return one
}

// typesMarkdown renders every type of the published JSON Schemas
// (extensions/schema): its fields, their JSON types, whether required, and
// their docs.
func typesMarkdown() string {
	files, _ := fs.Glob(schema.FS, "*.json")
	all := map[string]typeSchema{}
	file := map[string]string{}
	for _, f := range files {
		if f == "points.json" {
			continue
		}
		b, err := schema.FS.ReadFile(f)
		if err != nil {
			continue
		}
		var s typeSchema
		if json.Unmarshal(b, &s) != nil {
			continue
		}
		name := strings.TrimSuffix(f, ".json")
		all[name], file[name] = s, f
		for d, ds := range s.Defs {
			if _, ok := all[d]; !ok {
				all[d] = ds
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(`
## Types

The JSON documents a bizpack receives and answers, generated from the Go types
of ` + "`extensions/`" + `. Each request and response type of a point, and the manifest,
is published as a JSON Schema (draft 2020-12) under
[extensions/schema/](../extensions/schema/); [points.json](../extensions/schema/points.json)
names the two schemas of every point. A field that is not required may be absent
(and is absent from older writers); a reader ignores fields it does not know, as
a newer minor version may add some.
`)
	for _, n := range names {
		s := all[n]
		fmt.Fprintf(&b, "\n### Type %s\n\n", n)
		if s.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", s.Description)
		}
		if f, ok := file[n]; ok {
			fmt.Fprintf(&b, "Schema: [extensions/schema/%s](../extensions/schema/%s)\n\n", f, f)
		}
		b.WriteString("| field | type | required | meaning |\n| --- | --- | --- | --- |\n")
		fields := make([]string, 0, len(s.Properties))
		for f := range s.Properties {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			p := s.Properties[f]
			req := ""
			if slices.Contains(s.Required, f) {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f, p.jsonType(), req, strings.ReplaceAll(p.Description, "|", "\\|"))
		}
	}
	return b.String()
}

// typeLink links a type name of the catalogue to its section.
func typeLink(name string) string {
	short := strings.TrimPrefix(name, "extensions.")
	return fmt.Sprintf("[`%s`](#type-%s)", name, strings.ToLower(short))
}
