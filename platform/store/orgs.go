package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Refusals of the organisation tree; match them with errors.Is.
var (
	// ErrOrgCycle: a node cannot move under itself or under a node of its
	// own subtree.
	ErrOrgCycle = errors.New("store: org move would make a cycle")
	// ErrOrgInUse: a node that still has children, principals or orders
	// cannot be removed; the error is an *OrgInUseError, which counts them.
	ErrOrgInUse = errors.New("store: org in use")
)

// OrgInUseError refuses to remove an organisation node that something still
// refers to. errors.Is(err, ErrOrgInUse) holds for it.
type OrgInUseError struct {
	Org        string
	Children   int64
	Principals int64
	Orders     int64
}

func (e *OrgInUseError) Error() string {
	return fmt.Sprintf("org %s is in use: %d children, %d principals, %d orders", e.Org, e.Children, e.Principals, e.Orders)
}

// Is makes errors.Is(err, ErrOrgInUse) hold.
func (e *OrgInUseError) Is(target error) bool { return target == ErrOrgInUse }

// Limits of an org node, checked in Go so that the three databases agree.
const (
	maxOrgPath = 1024 // bytes (a path holds ASCII only)
	maxOrgName = 200  // characters
	maxOrgKind = 32   // characters
)

// orgIDPattern is an org node id. It has no LIKE wildcard (% _) nor escape,
// so a path can go into a LIKE pattern as it is.
var orgIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

func checkOrgID(what, id string) error {
	if !orgIDPattern.MatchString(id) {
		return invalid("%s %.70q is not an org id (1 to 64 of a-z 0-9 -, not starting with -)", what, id)
	}
	return nil
}

// isPathText reports whether s holds only bytes an org path can hold:
// a-z, 0-9, '-' and '/'.
func isPathText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

// pathPrefixCond is the condition "path starts with prefix" on tmf_orgs,
// for a non-empty prefix of path bytes (isPathText: no wildcard to escape).
// LIKE states it; the equivalent byte range lets every engine use the path
// index, SQLite included, whose LIKE ignores case and so cannot. Both are
// exact because path compares byte by byte (see orgPathColumn).
func pathPrefixCond(prefix string) (string, []any) {
	end := prefix[:len(prefix)-1] + string(rune(prefix[len(prefix)-1]+1))
	return "path LIKE ? AND path >= ? AND path < ?", []any{prefix + "%", prefix, end}
}

// CreateOrg adds a node under o.Parent, or a root when Parent is "", and
// returns it as stored, with its Path, CreatedAt and UpdatedAt set. A bad
// id, a name over 200 or a kind over 32 characters, or a path over 1024
// bytes is ErrInvalid; an unknown parent ErrNotFound (the message names it);
// a taken id ErrDuplicate.
func (s *Store) CreateOrg(ctx context.Context, o Org) (Org, error) {
	fail := func(err error) (Org, error) { return Org{}, fmt.Errorf("store: create org %s: %w", o.ID, err) }
	if err := checkOrgFields(o); err != nil {
		return fail(err)
	}
	now := s.now()
	row := Org{ID: o.ID, Parent: o.Parent, Name: o.Name, Kind: o.Kind, CreatedAt: now, UpdatedAt: now}
	err := s.treeTx(ctx, func(tx *gorm.DB) error {
		parentPath := "/"
		if o.Parent != "" {
			p, err := orgPathOf(tx, o.Parent)
			if err != nil {
				return fmt.Errorf("parent org %s: %w", o.Parent, err)
			}
			parentPath = p
		}
		row.Path = parentPath + o.ID + "/"
		if len(row.Path) > maxOrgPath {
			return invalid("path %.40q… would be longer than %d bytes", row.Path, maxOrgPath)
		}
		r := row
		if err := tx.Create(&r).Error; err != nil {
			if isDuplicateKey(err) {
				return fmt.Errorf("org %s exists: %w", o.ID, ErrDuplicate)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return row, nil
}

func checkOrgFields(o Org) error {
	if err := checkOrgID("id", o.ID); err != nil {
		return err
	}
	if o.Parent != "" && !orgIDPattern.MatchString(o.Parent) {
		// It cannot exist.
		return fmt.Errorf("parent org %.70q: %w", o.Parent, ErrNotFound)
	}
	if n := utf8.RuneCountInString(o.Name); n > maxOrgName {
		return invalid("name of %d characters, longer than %d", n, maxOrgName)
	}
	if n := utf8.RuneCountInString(o.Kind); n > maxOrgKind {
		return invalid("kind of %d characters, longer than %d", n, maxOrgKind)
	}
	return nil
}

// GetOrg returns a node by id; ErrNotFound if none.
func (s *Store) GetOrg(ctx context.Context, id string) (Org, error) {
	o, err := getOrg(s.db.WithContext(ctx), id)
	if err != nil {
		return Org{}, fmt.Errorf("store: get org %s: %w", id, err)
	}
	return o, nil
}

func getOrg(db *gorm.DB, id string) (Org, error) {
	var o Org
	err := db.Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Org{}, ErrNotFound
	}
	if err != nil {
		return Org{}, err
	}
	o.CreatedAt, o.UpdatedAt = stamp(o.CreatedAt), stamp(o.UpdatedAt)
	return o, nil
}

// OrgPath returns the current path of a node with one read by primary key:
// "" (and no error) for the id "", ErrNotFound for an unknown node.
func (s *Store) OrgPath(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	p, err := orgPathOf(s.db.WithContext(ctx), id)
	if err != nil {
		return "", fmt.Errorf("store: path of org %s: %w", id, err)
	}
	return p, nil
}

func orgPathOf(db *gorm.DB, id string) (string, error) {
	var paths []string
	if err := db.Model(&Org{}).Where("id = ?", id).Limit(1).Pluck("path", &paths).Error; err != nil {
		return "", err
	}
	if len(paths) == 0 {
		return "", ErrNotFound
	}
	return paths[0], nil
}

// OrgQuery selects and pages the nodes ListOrgs returns.
type OrgQuery struct {
	// Under keeps the subtree of this node id, the node included; "" keeps
	// every node.
	Under string
	// After continues strictly after this path: the Path of the last node of
	// the previous page.
	After string
	// Limit is the page size: 100 when zero or less, at most 1000.
	Limit int
}

// ListOrgs returns nodes ordered by Path, byte by byte, so that a subtree
// is contiguous and follows its root; one page at a time (keyset paging on
// the unique path). ErrNotFound if Under names no node; ErrInvalid if After
// is not a path.
func (s *Store) ListOrgs(ctx context.Context, q OrgQuery) ([]Org, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	db := s.db.WithContext(ctx)
	tx := db.Model(&Org{})
	if q.Under != "" {
		path, err := orgPathOf(db, q.Under)
		if err != nil {
			return nil, fmt.Errorf("store: list orgs under %s: %w", q.Under, err)
		}
		where, args := pathPrefixCond(path)
		tx = tx.Where(where, args...)
	}
	if q.After != "" {
		if !isPathText(q.After) || len(q.After) > maxOrgPath {
			return nil, fmt.Errorf("store: list orgs: %w", invalid("cursor %.40q is not an org path", q.After))
		}
		tx = tx.Where("path > ?", q.After)
	}
	out := []Org{}
	if err := tx.Order("path").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list orgs: %w", err)
	}
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt = stamp(out[i].CreatedAt), stamp(out[i].UpdatedAt)
	}
	return out, nil
}

// MoveOrg moves the node id, with its subtree, under newParent ("" makes it
// a root) in ONE transaction: the path of every node of the subtree gets the
// new prefix, the node gets its new parent, and nothing else changes, orders
// least of all: they name their owning node, so access to them follows the
// move at once. It returns the moved node. ErrNotFound names the node or the
// parent that does not exist; ErrOrgCycle refuses a move under the node
// itself or into its subtree; ErrInvalid a move that would make a path
// longer than 1024 bytes. Moving a node under its own parent changes
// nothing. Tree writes are serialised (see treeTx), so concurrent moves
// always leave a consistent tree.
func (s *Store) MoveOrg(ctx context.Context, id, newParent string) (Org, error) {
	fail := func(err error) (Org, error) {
		return Org{}, fmt.Errorf("store: move org %s under %q: %w", id, newParent, err)
	}
	now := s.now()
	var out Org
	err := s.treeTx(ctx, func(tx *gorm.DB) error {
		node, err := getOrg(tx, id)
		if err != nil {
			return fmt.Errorf("org %s: %w", id, err)
		}
		parentPath := "/"
		if newParent != "" {
			p, err := orgPathOf(tx, newParent)
			if err != nil {
				return fmt.Errorf("parent org %s: %w", newParent, err)
			}
			if strings.HasPrefix(p, node.Path) { // newParent == id included
				return fmt.Errorf("%w: %s is in the subtree of %s", ErrOrgCycle, newParent, id)
			}
			parentPath = p
		}
		newPath := parentPath + id + "/"
		if newPath == node.Path {
			out = node
			return nil
		}
		where, args := pathPrefixCond(node.Path)
		var longest int64
		if err := tx.Model(&Org{}).Select("COALESCE(MAX(LENGTH(path)), 0)").Where(where, args...).
			Scan(&longest).Error; err != nil {
			return fmt.Errorf("longest path: %w", err)
		}
		if n := int(longest) - len(node.Path) + len(newPath); n > maxOrgPath {
			return invalid("the move would make a path of %d bytes, longer than %d", n, maxOrgPath)
		}
		// Paths are ASCII, so SUBSTR's characters are bytes on every engine.
		concat := "? || SUBSTR(path, ?)"
		if s.dialect == MySQL {
			concat = "CONCAT(?, SUBSTR(path, ?))" // || is OR in MySQL
		}
		vars := append([]any{newPath, len(node.Path) + 1, now}, args...)
		if err := tx.Exec("UPDATE tmf_orgs SET path = "+concat+", updated_at = ? WHERE "+where, vars...).Error; err != nil {
			return fmt.Errorf("rewrite paths: %w", err)
		}
		if err := tx.Exec("UPDATE tmf_orgs SET parent = ? WHERE id = ?", newParent, id).Error; err != nil {
			return fmt.Errorf("set parent: %w", err)
		}
		out, err = getOrg(tx, id)
		return err
	})
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// RemoveOrg deletes a node that nothing refers to any more. A node with
// children, principals or orders is refused with an *OrgInUseError that
// counts them (errors.Is ErrOrgInUse); an unknown node is ErrNotFound. The
// counts are taken under the tree's lock, which orders and principals do
// not take: an order written for the node while it is being removed is not
// seen.
func (s *Store) RemoveOrg(ctx context.Context, id string) error {
	err := s.treeTx(ctx, func(tx *gorm.DB) error {
		if _, err := orgPathOf(tx, id); err != nil {
			return err
		}
		use := OrgInUseError{Org: id}
		for _, c := range []struct {
			model any
			where string
			n     *int64
		}{
			{&Org{}, "parent = ?", &use.Children},
			{&Principal{}, "org = ?", &use.Principals},
			{&Order{}, "owner_org = ?", &use.Orders},
		} {
			if err := tx.Model(c.model).Where(c.where, id).Count(c.n).Error; err != nil {
				return err
			}
		}
		if use.Children+use.Principals+use.Orders > 0 {
			return &use
		}
		return tx.Where("id = ?", id).Delete(&Org{}).Error
	})
	if err != nil {
		return fmt.Errorf("store: remove org %s: %w", id, err)
	}
	return nil
}

// CheckOrgTree reads the whole tree and returns every problem it finds, one
// sentence each, in path order: a node whose parent does not exist, a node
// whose path is not its parent's path + its id + "/" (a root's: "/" + id +
// "/"). None (nil) for a sound tree. For tests and operators.
func (s *Store) CheckOrgTree(ctx context.Context) ([]string, error) {
	var orgs []Org
	if err := s.db.WithContext(ctx).Select("id", "parent", "path").Order("path").Find(&orgs).Error; err != nil {
		return nil, fmt.Errorf("store: check org tree: %w", err)
	}
	paths := make(map[string]string, len(orgs))
	for _, o := range orgs {
		paths[o.ID] = o.Path
	}
	var problems []string
	for _, o := range orgs {
		parentPath := "/"
		if o.Parent != "" {
			p, ok := paths[o.Parent]
			if !ok {
				problems = append(problems, fmt.Sprintf("org %s (path %s): parent %s does not exist", o.ID, o.Path, o.Parent))
				continue
			}
			parentPath = p
		}
		if want := parentPath + o.ID + "/"; o.Path != want {
			problems = append(problems, fmt.Sprintf("org %s: path %s, want %s (parent %q)", o.ID, o.Path, want, o.Parent))
		}
	}
	return problems, nil
}

// treeTx runs fn in one transaction (again after a deadlock, like inTx)
// that takes the tree's lock with its first statement. Every tree write
// goes through it: a move reads paths and rewrites them, and two moves
// interleaved could each rewrite from a path the other was changing.
func (s *Store) treeTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockTree(tx); err != nil {
			return fmt.Errorf("lock org tree: %w", err)
		}
		return fn(tx)
	})
}

// lockTree locks the row of tmf_org_tree_lock until the transaction ends.
// It must be the transaction's first statement: on MySQL the snapshot of
// the plain reads that follow is then taken after the previous tree write
// committed. SQLite needs no lock: the store begins its transactions
// IMMEDIATE, which takes the database's write lock.
func (s *Store) lockTree(tx *gorm.DB) error {
	if s.dialect == SQLite {
		return nil
	}
	for range 2 {
		var ids []int
		if err := tx.Model(&orgTreeLock{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ?", 1).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 1 {
			return nil
		}
		// Migrate writes the row; a database migrated by MigrateModels alone may lack it.
		if err := ensureOrgTreeLock(tx); err != nil {
			return err
		}
	}
	return errors.New("tmf_org_tree_lock has no row")
}

// ensureOrgTreeLock writes the one row of tmf_org_tree_lock if it is missing.
func ensureOrgTreeLock(tx *gorm.DB) error {
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&orgTreeLock{ID: 1}).Error; err != nil {
		return fmt.Errorf("org tree lock row: %w", err)
	}
	return nil
}
