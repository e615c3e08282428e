package extensions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Order attributes (reference 004 §2.2.2) are typed values a client sends
// with an order under "attributes" (a top-up's phone number, a distribution
// order's contract number). A bizpack declares them in its manifest and a
// product in its definition, as a subset of JSON Schema: an object whose
// properties are of type string, integer, number or boolean, with enum,
// pattern, minLength/maxLength, minimum/maximum and a required list; and,
// beyond JSON Schema, "searchable": true on a property that order lists may
// filter on (GET /v1/orders?attr.<name>=<value>). The platform validates an
// order's attributes against its identity's declarations, refuses
// undeclared ones, stores them with the order and passes them to the points
// that see the order (Attributes on the request types, since protocol 1.2).

// Attribute limits, enforced by the platform on every order and checked in
// every declaration.
const (
	// MaxAttributes is the most attributes one order carries, and one
	// schema declares.
	MaxAttributes = 32
	// MaxAttributeName is the longest attribute name in bytes; names match
	// ^[a-zA-Z][a-zA-Z0-9_]*$ (no dot, so that attr.<name> is unambiguous).
	MaxAttributeName = 64
	// MaxAttributeValue is the longest string value in bytes.
	MaxAttributeValue = 1024
	// MaxSearchableValue is the longest value of a searchable attribute
	// (its index column), in bytes.
	MaxSearchableValue = 255
	// MaxAttributesBytes is the most bytes an order's attributes take as
	// JSON.
	MaxAttributesBytes = 8192
	// maxSafeInteger keeps integers exact through every JSON reader
	// (JavaScript's Number.MAX_SAFE_INTEGER).
	maxSafeInteger = 1<<53 - 1
)

// Attribute types.
const (
	AttrString  = "string"
	AttrInteger = "integer"
	AttrNumber  = "number"
	AttrBoolean = "boolean"
)

var attributeName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)

// AttributeSchema declares the attributes of orders: a JSON Schema object
// of flat, typed properties. Additional properties are never allowed.
type AttributeSchema struct {
	// Type is "object" or empty.
	Type       string                       `json:"type,omitempty"`
	Properties map[string]AttributeProperty `json:"properties"`
	// Required names properties an order must carry.
	Required []string `json:"required,omitempty"`
}

// AttributeProperty declares one attribute.
type AttributeProperty struct {
	// Type is string, integer, number or boolean.
	Type        string `json:"type"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Enum lists the values allowed, of the property's type.
	Enum []any `json:"enum,omitempty"`
	// Pattern is a regular expression (Go RE2 syntax) a string must match
	// somewhere, as in JSON Schema; anchor it with ^…$ to match whole.
	Pattern string `json:"pattern,omitempty"`
	// MinLength and MaxLength bound a string's length in characters.
	MinLength *int `json:"minLength,omitempty"`
	MaxLength *int `json:"maxLength,omitempty"`
	// Minimum and Maximum bound a number or integer, inclusive.
	Minimum *float64 `json:"minimum,omitempty"`
	Maximum *float64 `json:"maximum,omitempty"`
	// Searchable lets order lists filter on the attribute. Its values are
	// indexed and must be at most MaxSearchableValue bytes.
	Searchable bool `json:"searchable,omitempty"`
}

// Check reports every problem of a schema: a type other than object, a
// malformed or too long name, an unknown property type, a pattern that does
// not compile, bounds on the wrong type or the wrong way round, enum values
// of another type, required names that are not properties.
func (s AttributeSchema) Check() []string {
	var problems []string
	if s.Type != "" && s.Type != "object" {
		problems = append(problems, fmt.Sprintf("attributes: type %q must be \"object\"", s.Type))
	}
	if len(s.Properties) > MaxAttributes {
		problems = append(problems, fmt.Sprintf("attributes: %d properties, at most %d", len(s.Properties), MaxAttributes))
	}
	for _, name := range sortedKeys(s.Properties) {
		p := s.Properties[name]
		at := "attributes." + name
		if len(name) > MaxAttributeName || !attributeName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("%s: a name is 1 to %d of a-z A-Z 0-9 _, starting with a letter", at, MaxAttributeName))
		}
		switch p.Type {
		case AttrString, AttrInteger, AttrNumber, AttrBoolean:
		default:
			problems = append(problems, fmt.Sprintf("%s: type %q must be string, integer, number or boolean", at, p.Type))
			continue
		}
		if p.Type != AttrString && (p.Pattern != "" || p.MinLength != nil || p.MaxLength != nil) {
			problems = append(problems, fmt.Sprintf("%s: pattern, minLength and maxLength apply to strings only", at))
		}
		if p.Type != AttrInteger && p.Type != AttrNumber && (p.Minimum != nil || p.Maximum != nil) {
			problems = append(problems, fmt.Sprintf("%s: minimum and maximum apply to numbers only", at))
		}
		if p.Pattern != "" {
			if _, err := regexp.Compile(p.Pattern); err != nil {
				problems = append(problems, fmt.Sprintf("%s: pattern: %v", at, err))
			}
		}
		if p.MinLength != nil && p.MaxLength != nil && *p.MinLength > *p.MaxLength ||
			p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum ||
			p.MinLength != nil && *p.MinLength < 0 || p.MaxLength != nil && *p.MaxLength < 0 {
			problems = append(problems, fmt.Sprintf("%s: bounds are the wrong way round or negative", at))
		}
		for i, v := range p.Enum {
			if _, err := p.normalise(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: enum[%d]: %v", at, i, err))
			}
		}
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			problems = append(problems, fmt.Sprintf("attributes: required %q is not a property", r))
		}
	}
	return problems
}

// AttributeError is the refusal of an order's attributes: Code is
// "attribute_invalid" (a value of the wrong type or out of bounds, a
// required attribute missing, the limits exceeded) or "attribute_unknown"
// (an attribute no declaration names); Field is "attributes.<name>", or
// "attributes" for the whole.
type AttributeError struct {
	Code   string
	Field  string
	Reason string
}

func (e *AttributeError) Error() string { return e.Field + ": " + e.Reason }

// Codes of an AttributeError.
const (
	CodeAttributeInvalid = "attribute_invalid"
	CodeAttributeUnknown = "attribute_unknown"
)

// DeclaredAttribute is one attribute in force for an identity: its
// declaration, whether orders must carry it, and who declared it.
type DeclaredAttribute struct {
	AttributeProperty
	Required bool `json:"required,omitempty"`
	// Source is the bizpack or product that declared it.
	Source string `json:"source"`
}

// ValidateAttributes checks raw attribute values (as sent in JSON) against
// declarations and returns them normalised: strings as string, integers as
// int64, numbers as float64, booleans as bool. The first problem in name
// order is returned as an *AttributeError.
func ValidateAttributes(decl map[string]DeclaredAttribute, raw map[string]json.RawMessage) (map[string]any, error) {
	if len(raw) > MaxAttributes {
		return nil, &AttributeError{CodeAttributeInvalid, "attributes", fmt.Sprintf("%d attributes, at most %d", len(raw), MaxAttributes)}
	}
	total := 2
	for k, v := range raw {
		total += len(k) + len(v) + 4
	}
	if total > MaxAttributesBytes {
		return nil, &AttributeError{CodeAttributeInvalid, "attributes", fmt.Sprintf("attributes take %d bytes, at most %d", total, MaxAttributesBytes)}
	}
	out := make(map[string]any, len(raw))
	for _, name := range sortedKeys(raw) {
		field := "attributes." + name
		if len(name) > MaxAttributeName {
			return nil, &AttributeError{CodeAttributeInvalid, "attributes", fmt.Sprintf("an attribute name is at most %d bytes", MaxAttributeName)}
		}
		d, ok := decl[name]
		if !ok {
			return nil, &AttributeError{CodeAttributeUnknown, field, fmt.Sprintf("attribute %q is not declared for this business identity", name)}
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw[name]))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, &AttributeError{CodeAttributeInvalid, field, "not a JSON value"}
		}
		nv, err := d.validate(v)
		if err != nil {
			return nil, &AttributeError{CodeAttributeInvalid, field, err.Error()}
		}
		out[name] = nv
	}
	for _, name := range sortedKeys(decl) {
		if _, ok := out[name]; decl[name].Required && !ok {
			return nil, &AttributeError{CodeAttributeInvalid, "attributes." + name, "required"}
		}
	}
	return out, nil
}

// normalise converts a JSON-decoded value (json.Number or float64 for
// numbers) to the property's Go type, or says why it is not of the type.
func (p AttributeProperty) normalise(v any) (any, error) {
	switch p.Type {
	case AttrString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string")
		}
		return s, nil
	case AttrBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("must be true or false")
		}
		return b, nil
	case AttrInteger:
		var s string
		switch n := v.(type) {
		case json.Number:
			s = n.String()
		case float64:
			s = strconv.FormatFloat(n, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("must be an integer")
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// 1.0 is an integer in JSON Schema.
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
				return nil, fmt.Errorf("must be an integer between -%d and %d", int64(maxSafeInteger), int64(maxSafeInteger))
			}
			i = int64(f)
		}
		if i > maxSafeInteger || i < -maxSafeInteger {
			return nil, fmt.Errorf("must be an integer between -%d and %d", int64(maxSafeInteger), int64(maxSafeInteger))
		}
		return i, nil
	case AttrNumber:
		switch n := v.(type) {
		case json.Number:
			f, err := n.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, fmt.Errorf("must be a finite number")
			}
			return f, nil
		case float64:
			return n, nil
		}
		return nil, fmt.Errorf("must be a number")
	}
	return nil, fmt.Errorf("has an unknown type %q", p.Type)
}

func (p AttributeProperty) validate(v any) (any, error) {
	nv, err := p.normalise(v)
	if err != nil {
		return nil, err
	}
	switch x := nv.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		switch {
		case !utf8.ValidString(x) || strings.ContainsFunc(x, func(r rune) bool { return r < ' ' || r == 0x7f }):
			return nil, fmt.Errorf("must be valid UTF-8 without control characters")
		case len(x) > MaxAttributeValue:
			return nil, fmt.Errorf("is %d bytes long, at most %d", len(x), MaxAttributeValue)
		case p.Searchable && len(x) > MaxSearchableValue:
			return nil, fmt.Errorf("is %d bytes long; a searchable attribute takes at most %d", len(x), MaxSearchableValue)
		case p.MinLength != nil && n < *p.MinLength:
			return nil, fmt.Errorf("must be at least %d characters long", *p.MinLength)
		case p.MaxLength != nil && n > *p.MaxLength:
			return nil, fmt.Errorf("must be at most %d characters long", *p.MaxLength)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(p.Pattern)
			if err != nil || !re.MatchString(x) {
				return nil, fmt.Errorf("must match %s", p.Pattern)
			}
		}
	case int64, float64:
		f := toFloat(x)
		if p.Minimum != nil && f < *p.Minimum {
			return nil, fmt.Errorf("must be at least %v", *p.Minimum)
		}
		if p.Maximum != nil && f > *p.Maximum {
			return nil, fmt.Errorf("must be at most %v", *p.Maximum)
		}
	}
	if len(p.Enum) > 0 {
		allowed := false
		for _, e := range p.Enum {
			if ne, err := p.normalise(e); err == nil && AttributeText(ne) == AttributeText(nv) {
				allowed = true
				break
			}
		}
		if !allowed {
			return nil, fmt.Errorf("must be one of %s", enumText(p.Enum))
		}
	}
	return nv, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// AttributeText is the canonical text of a normalised attribute value, as
// searchable attributes are indexed and list filters compare: a string as
// it is, an integer in decimal, a number in the shortest form that reads
// back the same ("1.5", "2"), a boolean as true or false.
func AttributeText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func enumText(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v)
		parts[i] = string(b)
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
