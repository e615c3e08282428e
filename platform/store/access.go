package store

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Access restricts which rows of a resource a principal may see: a
// disjunction of conjunctions, as the policy's partial evaluation produces
// it. A list query applies it in SQL, with bound parameters only, so that
// paging stays exact and no list of ids is ever expanded.
//
// All means no restriction (Any is then ignored). Otherwise a row is seen
// when it matches every Cond of at least one inner slice of Any; an empty
// inner slice matches every row, and All=false with no Any matches none.
type Access struct {
	All bool
	Any [][]Cond
}

// Cond is one condition of an Access on a field of the resource.
//
// Fields of orders: "id", "buyer_id", "biz_code" (columns of tmf_orders)
// and "owner_path", the current path of the org node that owns the order
// (tmf_orgs.path of tmf_orders.owner_org: moving a subtree changes it for
// all its orders at once). An owner_path value must be non-empty and made of
// a-z 0-9 - / only, the characters of a path, so no LIKE wildcard (% _) or
// escape (\); an order owned by no node (or by one no longer in the tree)
// has no path and matches no owner_path condition.
//
// Ops: "eq" (one value) equality; "prefix" (one value) starts with the value,
// byte by byte and case-sensitive on every database; "in" (1 to
// MaxAccessValues values) equals one of them. Larger sets must be expressed
// as prefixes: a subtree is one owner_path prefix.
//
// An unknown field or op, a wrong number of values or a value an
// owner_path cannot hold is ErrInvalid: the caller must deny.
type Cond struct {
	Field  string
	Op     string
	Values []string
}

// Ops of a Cond.
const (
	OpEq     = "eq"
	OpPrefix = "prefix"
	OpIn     = "in"
)

// MaxAccessValues is the most values an "in" Cond may have.
const MaxAccessValues = 100

// accessField is how one Field of an Access is compared in SQL: a column of
// the resource's table, or the path of the org node a column names.
type accessField struct {
	column string
	// orgPath: column holds an org id, and the field is that node's path.
	orgPath bool
}

// orderAccess are the fields an Access may name on orders.
var orderAccess = map[string]accessField{
	"id":         {column: "id"},
	"buyer_id":   {column: "buyer_id"},
	"biz_code":   {column: "biz_code"},
	"owner_path": {column: "owner_org", orgPath: true},
	// owner_org compares the owning node's id: the form narrowSubtrees
	// gives a small subtree.
	"owner_org": {column: "owner_org"},
}

// smallSubtree is the most nodes a subtree may have for a list to name them
// (owner_org IN (ids)) instead of joining the tree by path. A database
// cannot estimate how many orders the path join keeps, and so walks the
// creation-time index hoping to meet a page of matches soon: right for a
// region (many matches near the start), ruinous for a store with a handful
// of orders among millions. Named ids let it see the few orders directly.
// Larger subtrees keep the join: their orders are dense, and the id list
// stays bounded whatever the tree's size.
const smallSubtree = 64

// noOrg is an org id no node can have: "owner_org IN (noOrg)" matches no order.
const noOrg = "/"

// largeSubtreeTTL is how long a subtree found larger than smallSubtree is
// remembered as large (see largeSubtrees).
const largeSubtreeTTL = time.Minute

// maxLargeSubtrees bounds largeSubtrees; when it is full it starts again
// empty.
const maxLargeSubtrees = 10_000

// largeSubtrees remembers the owner_path prefixes whose subtree had more
// than smallSubtree nodes, so that their lists skip narrowSubtrees' read of
// the tree (a statement per page). It is a hint about speed only: a large
// subtree keeps the path join, which reads the tree as it is when the list
// runs, so a subtree that has shrunk since is listed exactly all the same,
// only with a large subtree's plan, until the entry expires. A nil
// *largeSubtrees remembers nothing.
type largeSubtrees struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newLargeSubtrees() *largeSubtrees {
	return &largeSubtrees{until: map[string]time.Time{}}
}

func (l *largeSubtrees) known(prefix string, now time.Time) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.until[prefix]
	if ok && !now.Before(until) {
		delete(l.until, prefix)
		return false
	}
	return ok
}

func (l *largeSubtrees) remember(prefix string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.until) >= maxLargeSubtrees {
		clear(l.until)
	}
	l.until[prefix] = now.Add(largeSubtreeTTL)
}

// narrowSubtrees rewrites each owner_path prefix condition of a whose
// subtree has at most smallSubtree nodes into owner_org IN (its ids), read
// from the tree now; other conditions are kept, as are the prefixes large
// remembers as large without reading the tree. Invalid conditions are left
// for the clause to refuse.
func (a *Access) narrowSubtrees(db *gorm.DB, large *largeSubtrees) (*Access, error) {
	if a == nil || a.All {
		return a, nil
	}
	out := &Access{Any: make([][]Cond, len(a.Any))}
	for i, conj := range a.Any {
		out.Any[i] = slices.Clone(conj)
		for j, c := range conj {
			if c.Field != "owner_path" || c.Op != OpPrefix || len(c.Values) != 1 {
				continue
			}
			if _, _, err := orgPathSQL("owner_org", c); err != nil {
				continue
			}
			now := time.Now()
			if large.known(c.Values[0], now) {
				continue
			}
			where, vars := pathPrefixCond(c.Values[0])
			var ids []string
			if err := db.Model(&Org{}).Where(where, vars...).Order("path").Limit(smallSubtree+1).Pluck("id", &ids).Error; err != nil {
				return nil, fmt.Errorf("subtree %s: %w", c.Values[0], err)
			}
			if len(ids) > smallSubtree {
				large.remember(c.Values[0], now)
				continue
			}
			if len(ids) == 0 {
				ids = []string{noOrg}
			}
			out.Any[i][j] = Cond{Field: "owner_org", Op: OpIn, Values: ids}
		}
	}
	return out, nil
}

// orderClause is a as a condition on tmf_orders, for ListOrders: nil when a
// does not restrict (All), else one parenthesised expression with bound
// parameters. ErrInvalid for a condition it cannot express.
func (a Access) orderClause(dialect string) (clause.Expression, error) {
	if dialect == SQLite {
		return a.clause(sqliteOrderAccess)
	}
	return a.clause(orderAccess)
}

// sqliteOrderAccess is orderAccess for SQLite, whose planner would serve a
// subtree's path join through the owner index — every order of the subtree,
// then a sort — where walking the creation-time index finds a page of a
// large (dense) subtree at once: the unary plus keeps it off that index.
// Small subtrees, narrowed to their ids, still use it.
var sqliteOrderAccess = func() map[string]accessField {
	m := maps.Clone(orderAccess)
	m["owner_path"] = accessField{column: "+owner_org", orgPath: true}
	return m
}()

func (a Access) clause(fields map[string]accessField) (clause.Expression, error) {
	if a.All {
		return nil, nil
	}
	if len(a.Any) == 0 {
		return clause.Expr{SQL: "(1 = 0)"}, nil
	}
	var sql strings.Builder
	var vars []any
	sql.WriteString("(")
	for i, conj := range a.Any {
		if i > 0 {
			sql.WriteString(" OR ")
		}
		if len(conj) == 0 {
			sql.WriteString("(1 = 1)")
			continue
		}
		sql.WriteString("(")
		for j, c := range conj {
			if j > 0 {
				sql.WriteString(" AND ")
			}
			cs, cv, err := c.sql(fields)
			if err != nil {
				return nil, fmt.Errorf("access filter: %w", err)
			}
			sql.WriteString(cs)
			vars = append(vars, cv...)
		}
		sql.WriteString(")")
	}
	sql.WriteString(")")
	return clause.Expr{SQL: sql.String(), Vars: vars}, nil
}

// sql is c as SQL with placeholders, and the values to bind to them. The
// SQL text holds only column names from fields and fixed words.
func (c Cond) sql(fields map[string]accessField) (string, []any, error) {
	f, ok := fields[c.Field]
	if !ok {
		return "", nil, invalid("unknown field %.40q", c.Field)
	}
	switch c.Op {
	case OpEq, OpPrefix:
		if len(c.Values) != 1 {
			return "", nil, invalid("%s %s takes one value, not %d", c.Field, c.Op, len(c.Values))
		}
	case OpIn:
		if len(c.Values) == 0 || len(c.Values) > MaxAccessValues {
			return "", nil, invalid("%s in takes 1 to %d values, not %d: express large sets as prefixes",
				c.Field, MaxAccessValues, len(c.Values))
		}
	default:
		return "", nil, invalid("unknown op %.40q on %s", c.Op, c.Field)
	}
	if f.orgPath {
		return orgPathSQL(f.column, c)
	}
	col := f.column
	switch c.Op {
	case OpEq:
		return col + " = ?", []any{c.Values[0]}, nil
	case OpIn:
		return col + " IN ?", []any{c.Values}, nil
	}
	// LIKE may use an index; SUBSTR makes the match case-sensitive on
	// SQLite too, whose LIKE ignores ASCII case.
	v := c.Values[0]
	return "(" + col + " LIKE ? ESCAPE '!' AND SUBSTR(" + col + ", 1, ?) = ?)",
		[]any{likeEscaper.Replace(v) + "%", utf8.RuneCountInString(v), v}, nil
}

// likeEscaper escapes LIKE's wildcards with '!', an escape character that
// needs no escaping in SQL strings on any of the three databases.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// orgPathSQL is c on the path of the org node named by column: a subquery
// on tmf_orgs, which the path index serves.
func orgPathSQL(column string, c Cond) (string, []any, error) {
	for _, v := range c.Values {
		switch {
		case v == "":
			return "", nil, invalid("%s %s: empty path", c.Field, c.Op)
		case strings.ContainsAny(v, `%_\`):
			return "", nil, invalid("%s %s %.70q: a path holds no LIKE wildcard or escape (%% _ \\)", c.Field, c.Op, v)
		case !isPathText(v):
			return "", nil, invalid("%s %s %.70q: a path holds a-z 0-9 - / only", c.Field, c.Op, v)
		case len(v) > maxOrgPath:
			return "", nil, invalid("%s %s: path longer than %d bytes", c.Field, c.Op, maxOrgPath)
		}
	}
	var where string
	var vars []any
	switch c.Op {
	case OpEq:
		where, vars = "path = ?", []any{c.Values[0]}
	case OpIn:
		where, vars = "path IN ?", []any{c.Values}
	default:
		where, vars = pathPrefixCond(c.Values[0])
	}
	return column + " IN (SELECT id FROM tmf_orgs WHERE " + where + ")", vars, nil
}
