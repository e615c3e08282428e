// Package dbutil holds the few SQL helpers the domain packages share for
// their own tables: insert-once for idempotent ledgers, the dialect of a
// handle, times at the stored precision and bucket routing. It knows gorm
// and nothing of the platform.
package dbutil

import (
	"hash/fnv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Dialect names, as Dialect reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// Dialect is the database behind db: SQLite, Postgres or MySQL.
func Dialect(db *gorm.DB) string { return db.Dialector.Name() }

// InsertOnce inserts row unless a row with the same primary or unique key
// exists, and reports whether it inserted. A duplicate does not fail the
// statement (on PostgreSQL that would abort the whole transaction): the
// dialects' "on conflict do nothing" is used, and on MySQL a no-op update
// counts zero rows.
func InsertOnce(db *gorm.DB, row any) (bool, error) {
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(row)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// Precision is the resolution of stored times, as in the platform store.
const Precision = time.Microsecond

// Stamp converts t to what the three databases give back: UTC, truncated to
// microseconds. The zero time stays zero.
func Stamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(Precision)
}

// Bucket maps key (a buyer id) to one of n buckets, the same one every time;
// 0 when n < 2.
func Bucket(key string, n int) int {
	if n < 2 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
