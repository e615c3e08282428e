package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreatePrincipal registers an API caller; ErrDuplicate if its id or token
// hash is taken. A zero CreatedAt becomes now.
func (s *Store) CreatePrincipal(ctx context.Context, p Principal) error {
	if err := errors.Join(checkKey("principal id", p.ID, maxPrincpl), checkKey("token hash", p.TokenHash, 64)); err != nil {
		return fmt.Errorf("store: create principal: %w", err)
	}
	p.CreatedAt = cmp.Or(stamp(p.CreatedAt), s.now())
	if err := s.db.WithContext(ctx).Create(&p).Error; err != nil {
		if isDuplicateKey(err) {
			return fmt.Errorf("store: create principal %s: %w", p.ID, ErrDuplicate)
		}
		return fmt.Errorf("store: create principal %s: %w", p.ID, err)
	}
	return nil
}

// PutPrincipal creates a principal or replaces the roles, organisation,
// business identities, token hash and attributes of an existing one
// (CreatedAt is kept); for rotating a token. ErrDuplicate if the token hash
// belongs to another principal.
func (s *Store) PutPrincipal(ctx context.Context, p Principal) error {
	if err := errors.Join(checkKey("principal id", p.ID, maxPrincpl), checkKey("token hash", p.TokenHash, 64)); err != nil {
		return fmt.Errorf("store: put principal: %w", err)
	}
	p.CreatedAt = cmp.Or(stamp(p.CreatedAt), s.now())
	// Not an upsert statement: MySQL's ON DUPLICATE KEY UPDATE would also
	// fire on the token's unique key and rewrite another principal.
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var ids []string
		if err := tx.Model(&Principal{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ?", p.ID).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			row := p
			return tx.Create(&row).Error
		}
		return tx.Exec("UPDATE tmf_principals SET roles = ?, org = ?, identities = ?, token_hash = ?, attrs = ? WHERE id = ?",
			p.Roles, p.Org, p.Identities, p.TokenHash, p.Attrs, p.ID).Error
	})
	if isDuplicateKey(err) {
		return fmt.Errorf("store: put principal %s: token hash taken: %w", p.ID, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("store: put principal %s: %w", p.ID, err)
	}
	return nil
}

// AdminRole is the role of which one enabled principal must always remain:
// UpdatePrincipal and DeletePrincipal refuse with ErrLastAdmin to remove it.
const AdminRole = "admin"

// adminRoles matches the principals holding AdminRole in their
// comma-separated roles.
const adminRoles = "(roles = 'admin' OR roles LIKE 'admin,%' OR roles LIKE '%,admin' OR roles LIKE '%,admin,%')"

// lockAdmins locks the rows of the enabled admins, so that two changes
// that would each remove one of the last two cannot both pass the check.
func lockAdmins(tx *gorm.DB) error {
	var ids []string
	return tx.Model(&Principal{}).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("disabled = ? AND "+adminRoles, false).Pluck("id", &ids).Error
}

// adminLeft fails with ErrLastAdmin when no enabled admin remains.
func adminLeft(tx *gorm.DB) error {
	var n int64
	if err := tx.Model(&Principal{}).Where("disabled = ? AND "+adminRoles, false).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// UpdatePrincipal replaces the roles, organisation, business identities,
// attributes and disabled flag of an existing principal, keeping its token
// and creation time, and runs steps (an audit entry) in the same
// transaction. ErrNotFound if there is no such principal, ErrLastAdmin if
// no enabled admin would remain.
func (s *Store) UpdatePrincipal(ctx context.Context, p Principal, steps ...Step) error {
	if err := checkKey("principal id", p.ID, maxPrincpl); err != nil {
		return fmt.Errorf("store: update principal: %w", err)
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := lockAdmins(tx); err != nil {
			return err
		}
		res := tx.Exec("UPDATE tmf_principals SET roles = ?, org = ?, identities = ?, attrs = ?, disabled = ? WHERE id = ?",
			p.Roles, p.Org, p.Identities, p.Attrs, p.Disabled, p.ID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			// MySQL counts changed rows: an update to the same values
			// affects none, so tell "absent" from "unchanged".
			var n int64
			if err := tx.Model(&Principal{}).Where("id = ?", p.ID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
		}
		if err := adminLeft(tx); err != nil {
			return err
		}
		for _, step := range steps {
			if err := step(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: update principal %s: %w", p.ID, err)
	}
	return nil
}

// RotatePrincipalToken gives a principal a new token (by its hash) with an
// optional expiry; the old token stops working at once. Steps (an audit
// entry) run in the same transaction. ErrNotFound if there is no such
// principal, ErrDuplicate if the hash is taken.
func (s *Store) RotatePrincipalToken(ctx context.Context, id, hash string, expiresAt *time.Time, steps ...Step) error {
	if err := errors.Join(checkKey("principal id", id, maxPrincpl), checkKey("token hash", hash, 64)); err != nil {
		return fmt.Errorf("store: rotate token: %w", err)
	}
	if expiresAt != nil {
		at := stamp(*expiresAt)
		expiresAt = &at
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE tmf_principals SET token_hash = ?, token_expires_at = ? WHERE id = ?", hash, expiresAt, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		for _, step := range steps {
			if err := step(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if isDuplicateKey(err) {
		return fmt.Errorf("store: rotate token of %s: %w", id, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("store: rotate token of %s: %w", id, err)
	}
	return nil
}

// DeletePrincipal removes a principal (its orders stay, under its id);
// steps run in the same transaction. ErrNotFound if there is no such
// principal, ErrLastAdmin if it is the last enabled admin.
func (s *Store) DeletePrincipal(ctx context.Context, id string, steps ...Step) error {
	if err := checkKey("principal id", id, maxPrincpl); err != nil {
		return fmt.Errorf("store: delete principal: %w", err)
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := lockAdmins(tx); err != nil {
			return err
		}
		res := tx.Where("id = ?", id).Delete(&Principal{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := adminLeft(tx); err != nil {
			return err
		}
		for _, step := range steps {
			if err := step(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete principal %s: %w", id, err)
	}
	return nil
}

// PrincipalByTokenHash finds the principal of a bearer token by the hex
// SHA-256 of the token; ErrNotFound if none.
func (s *Store) PrincipalByTokenHash(ctx context.Context, hash string) (Principal, error) {
	p, err := s.principal(ctx, "token_hash = ?", hash)
	if err != nil {
		return Principal{}, fmt.Errorf("store: principal by token: %w", err)
	}
	return p, nil
}

// GetPrincipal returns a principal by id; ErrNotFound if none.
func (s *Store) GetPrincipal(ctx context.Context, id string) (Principal, error) {
	p, err := s.principal(ctx, "id = ?", id)
	if err != nil {
		return Principal{}, fmt.Errorf("store: principal %s: %w", id, err)
	}
	return p, nil
}

// principalRow is a principal read with the current path of its org node.
type principalRow struct {
	Principal
	JoinedOrgPath *string `gorm:"column:joined_org_path"`
}

func (r principalRow) principal() Principal {
	p := r.Principal
	if r.JoinedOrgPath != nil {
		p.OrgPath = *r.JoinedOrgPath
	}
	p.CreatedAt = stamp(p.CreatedAt)
	return p
}

// principals is the query of principals joined with their org nodes' paths.
func principals(db *gorm.DB) *gorm.DB {
	return db.Table("tmf_principals").
		Select("tmf_principals.*, tmf_orgs.path AS joined_org_path").
		Joins("LEFT JOIN tmf_orgs ON tmf_orgs.id = tmf_principals.org")
}

// principal reads one principal with the current path of its org node, in
// one statement: every authenticated request starts here.
func (s *Store) principal(ctx context.Context, where string, arg string) (Principal, error) {
	var row principalRow
	err := principals(s.db.WithContext(ctx)).Where("tmf_principals."+where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Principal{}, ErrNotFound
	}
	if err != nil {
		return Principal{}, err
	}
	return row.principal(), nil
}

// PrincipalQuery selects principals, ordered by id.
type PrincipalQuery struct {
	// Org, when set, keeps the principals of that node's subtree.
	Org string
	// After continues a listing strictly after this principal id.
	After string
	// Limit is the page size: 100 when zero or less, at most 1000.
	Limit int
}

// ListPrincipals returns principals with the current paths of their org
// nodes, ordered by id, one page at a time. An Org that names no node is
// ErrNotFound.
func (s *Store) ListPrincipals(ctx context.Context, q PrincipalQuery) ([]Principal, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	db := s.db.WithContext(ctx)
	tx := principals(db)
	if q.Org != "" {
		path, err := orgPathOf(db, q.Org)
		if err != nil {
			return nil, fmt.Errorf("store: list principals under %s: %w", q.Org, err)
		}
		where, args := pathPrefixCond(path)
		tx = tx.Where(strings.ReplaceAll(where, "path", "tmf_orgs.path"), args...)
	}
	if q.After != "" {
		tx = tx.Where("tmf_principals.id > ?", q.After)
	}
	var rows []principalRow
	if err := tx.Order("tmf_principals.id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list principals: %w", err)
	}
	out := make([]Principal, len(rows))
	for i, r := range rows {
		out[i] = r.principal()
	}
	return out, nil
}
