package api

import (
	"net/url"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
)

// maxAttrFilters is the most attr.<name> filters one list takes.
const maxAttrFilters = 8

// attrFilters reads the attr.<name>=<value> filters of an order list: at
// most maxAttrFilters, each given once, with a name of at most
// extensions.MaxAttributeName bytes and a value of at most
// extensions.MaxSearchableValue. Whether <name> is searchable is the order
// service's question (attribute_not_searchable).
func attrFilters(qp url.Values) (map[string]string, error) {
	var out map[string]string
	for key, values := range qp {
		name, ok := strings.CutPrefix(key, "attr.")
		if !ok {
			continue
		}
		field := "attr." + name
		switch {
		case name == "" || len(name) > extensions.MaxAttributeName:
			return nil, invalidField(field, "an attribute filter is attr.<name>=<value>, the name 1 to %d bytes", extensions.MaxAttributeName)
		case len(values) != 1:
			return nil, invalidField(field, "%s is given %d times; give it once", field, len(values))
		case len(values[0]) > extensions.MaxSearchableValue:
			return nil, invalidField(field, "%s is longer than %d bytes", field, extensions.MaxSearchableValue)
		}
		if out == nil {
			out = map[string]string{}
		}
		if len(out) == maxAttrFilters {
			return nil, invalidField(field, "at most %d attribute filters", maxAttrFilters)
		}
		out[name] = values[0]
	}
	return out, nil
}
