package order

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
)

// Codes of attribute refusals (HTTP 400).
const (
	// CodeAttributeInvalid: a value of the wrong type or out of its
	// declared bounds, a required attribute missing, or the attributes past
	// their size limits (see extensions.MaxAttributes and friends). Fields
	// name the field ("attributes.phone") and the reason.
	CodeAttributeInvalid = extensions.CodeAttributeInvalid
	// CodeAttributeUnknown: an attribute the identity does not declare.
	CodeAttributeUnknown = extensions.CodeAttributeUnknown
	// CodeAttributeNotSearchable: a list filtered on attr.<name> where no
	// identity in question declares <name> searchable.
	CodeAttributeNotSearchable = "attribute_not_searchable"
)

// orderAttributes validates an order's attributes against its identity's
// declarations: the normalised values (nil for none), their JSON for the
// order's column, and the canonical text of the searchable ones for the
// index. A refusal is an *Error naming the field.
func orderAttributes(plan *kernel.Plan, raw map[string]json.RawMessage) (map[string]any, string, map[string]string, error) {
	if len(raw) == 0 {
		decl := plan.Attributes()
		for _, name := range slices.Sorted(maps.Keys(decl)) {
			if decl[name].Required {
				return nil, "", nil, refuse(CodeAttributeInvalid, map[string]any{"field": "attributes." + name, "reason": "required"},
					"attributes.%s: required", name)
			}
		}
		return nil, "", nil, nil
	}
	values, err := extensions.ValidateAttributes(plan.Attributes(), raw)
	var ae *extensions.AttributeError
	if errors.As(err, &ae) {
		return nil, "", nil, &Error{Code: ae.Code, Message: ae.Error(), Fields: map[string]any{"field": ae.Field, "reason": ae.Reason}, Err: err}
	}
	if err != nil {
		return nil, "", nil, err
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, "", nil, err
	}
	var index map[string]string
	for name, v := range values {
		if plan.Attributes()[name].Searchable {
			if index == nil {
				index = map[string]string{}
			}
			index[name] = extensions.AttributeText(v)
		}
	}
	return values, string(b), index, nil
}

// indexStep writes an order's searchable attributes in its transaction.
func indexStep(orderID string, index map[string]string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error { return store.IndexAttributes(ctx, tx, orderID, index) }
}

// attributesOf reads the stored attributes of an order (nil for none).
// Integers come back as int64, other numbers as float64.
func attributesOf(o store.Order) map[string]any {
	if o.Attributes == "" {
		return nil
	}
	var out map[string]any
	d := json.NewDecoder(strings.NewReader(o.Attributes))
	d.UseNumber()
	if d.Decode(&out) != nil {
		return nil
	}
	for k, v := range out {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				out[k] = i
			} else if f, err := n.Float64(); err == nil {
				out[k] = f
			}
		}
	}
	return out
}

// searchFilter checks the attr.<name> filters of a list: each name must be
// declared searchable by the listed identity (bizCode), or by some identity
// in force when the list names none. Values are turned into the canonical
// text the index holds (attr.amount=5.0 finds 5).
func (s *Service) searchFilter(bizCode string, attrs map[string]string) (map[string]string, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	plans := s.kernel.Plans()
	codes := plans.Identities()
	if bizCode != "" {
		codes = []identity.Code{identity.Code(bizCode)}
	}
	out := make(map[string]string, len(attrs))
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		value := attrs[name]
		var decl *extensions.DeclaredAttribute
		for _, code := range codes {
			if p, ok := plans.Plan(code); ok {
				if d, ok := p.Attributes()[name]; ok && d.Searchable {
					decl = &d
					break
				}
			}
		}
		if decl == nil {
			return nil, refuse(CodeAttributeNotSearchable, map[string]any{"field": "attr." + name},
				"attribute %q is not declared searchable for the orders listed", name)
		}
		out[name] = canonical(decl.Type, value)
	}
	return out, nil
}

// canonical turns a filter's text into the index's canonical text of a
// value of type typ; text that is not of the type is kept (it finds nothing).
func canonical(typ, text string) string {
	switch typ {
	case extensions.AttrInteger, extensions.AttrNumber:
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			if typ == extensions.AttrInteger && f == float64(int64(f)) {
				return strconv.FormatInt(int64(f), 10)
			}
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	case extensions.AttrBoolean:
		if b, err := strconv.ParseBool(text); err == nil {
			return strconv.FormatBool(b)
		}
	}
	return text
}
