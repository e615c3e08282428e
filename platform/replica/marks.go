package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// readMark is a principal's write marker in the primary: the WAL position
// its reads need a replica to have replayed.
type readMark struct {
	Principal string    `gorm:"primaryKey;size:128"`
	LSN       string    `gorm:"column:lsn;type:pg_lsn;not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (readMark) TableName() string { return "tmf_read_marks" }

// MarkWrite records, after a write of principal has committed, the
// primary's WAL insert position as principal's marker (never moving it
// back), and returns the consistency token of the position. It costs one
// statement on the primary; call it only after a write that committed.
// principal "" records nothing and returns the token alone.
func (s *Set) MarkWrite(ctx context.Context, principal string) (string, error) {
	var out sql.NullString
	err := s.withTimeout(ctx, func(ctx context.Context) error {
		db := s.primary.DB(ctx)
		if principal == "" {
			return db.Raw("SELECT pg_current_wal_insert_lsn()::text").Scan(&out).Error
		}
		return db.Raw(`INSERT INTO tmf_read_marks (principal, lsn, updated_at) VALUES (?, pg_current_wal_insert_lsn(), now())
ON CONFLICT (principal) DO UPDATE SET lsn = GREATEST(tmf_read_marks.lsn, EXCLUDED.lsn), updated_at = EXCLUDED.updated_at
RETURNING lsn::text`, principal).Scan(&out).Error
	})
	if err == nil && !out.Valid {
		err = errors.New("no position returned")
	}
	if err != nil {
		s.met.markFailed()
		return "", fmt.Errorf("replica: mark the write of %q: %w", principal, err)
	}
	lsn, err := ParseLSN(out.String)
	if err != nil {
		return "", err
	}
	return lsn.Token(), nil
}

// markOf is principal's marker (zero when it never wrote, or for "").
func (s *Set) markOf(ctx context.Context, principal string) (LSN, error) {
	if principal == "" {
		return 0, nil
	}
	var out sql.NullString
	err := s.withTimeout(ctx, func(ctx context.Context) error {
		return s.primary.DB(ctx).Raw("SELECT lsn::text FROM tmf_read_marks WHERE principal = ?", principal).Scan(&out).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) || err == nil && !out.Valid {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return ParseLSN(out.String)
}
