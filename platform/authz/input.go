package authz

import "github.com/open-policy-agent/opa/v1/ast"

// Input field names, as the policy sees them.
const (
	fieldType      = "type"
	fieldID        = "id"
	fieldBuyerID   = "buyer_id"
	fieldOwnerPath = "owner_path"
	fieldBizCode   = "biz_code"
	fieldEvent     = "event"
)

// value builds the policy input directly as an AST value: no JSON round trip
// on the hot path. Nil slices become empty arrays, never null.
func (in Input) value() ast.Value {
	items := [][2]*ast.Term{
		ast.Item(ast.StringTerm("principal"), ast.NewTerm(in.Principal.value())),
		ast.Item(ast.StringTerm("action"), ast.StringTerm(in.Action)),
	}
	if in.Resource != nil {
		items = append(items, ast.Item(ast.StringTerm("resource"), ast.NewTerm(in.Resource.value())))
	}
	return ast.NewObject(items...)
}

func (p Principal) value() ast.Value {
	return ast.NewObject(
		ast.Item(ast.StringTerm("id"), ast.StringTerm(p.ID)),
		ast.Item(ast.StringTerm("roles"), stringArray(p.Roles)),
		ast.Item(ast.StringTerm("org_path"), ast.StringTerm(p.OrgPath)),
		ast.Item(ast.StringTerm("identities"), stringArray(p.Identities)),
	)
}

func (r *Resource) value() ast.Value {
	return ast.NewObject(
		ast.Item(ast.StringTerm(fieldType), ast.StringTerm(r.Type)),
		ast.Item(ast.StringTerm(fieldID), ast.StringTerm(r.ID)),
		ast.Item(ast.StringTerm(fieldBuyerID), ast.StringTerm(r.BuyerID)),
		ast.Item(ast.StringTerm(fieldOwnerPath), ast.StringTerm(r.OwnerPath)),
		ast.Item(ast.StringTerm(fieldBizCode), ast.StringTerm(r.BizCode)),
		ast.Item(ast.StringTerm(fieldEvent), ast.StringTerm(r.Event)),
	)
}

func stringArray(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}
