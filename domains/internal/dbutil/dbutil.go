// Package dbutil holds the few SQL helpers the domain packages share for
// their own tables: insert-once for idempotent ledgers, the dialect of a
// handle, times at the stored precision and bucket routing. It knows gorm
// and nothing of the platform.
package dbutil

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/platform/store/dberr"
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

// Retryable reports whether the database aborted a transaction only to
// break a deadlock or a serialisation conflict, so that running it again is
// right: PostgreSQL 40P01 or 40001, MySQL 1213 (dberr.Retryable, the
// store's rule), or SQLite's "database is locked" when another process
// held the file past the busy timeout.
func Retryable(err error) bool {
	return dberr.Retryable(err) || err != nil && strings.Contains(err.Error(), "database is locked")
}

// RunTx runs fn in a transaction of db, again — up to attempts runs in all,
// with a short randomised pause — when the database aborted it to break a
// deadlock, and once more when its connection was lost before COMMIT was
// sent (never when COMMIT itself failed: the outcome is unknown then, see
// dberr.LostBeforeCommit). fn must keep no state between runs. It is for a
// domain's own short transactions; order steps run in the platform's
// transaction.
func RunTx(ctx context.Context, db *gorm.DB, attempts int, fn func(tx *gorm.DB) error) error {
	reconnected := false
	for attempt := 1; ; attempt++ {
		committing := false
		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := fn(tx); err != nil {
				return err
			}
			committing = true // gorm commits when fn returns nil
			return nil
		})
		switch {
		case err == nil || ctx.Err() != nil:
			return err
		case Retryable(err) && attempt < attempts:
			time.Sleep(time.Duration(attempt*(1+rand.IntN(5))) * time.Millisecond)
		case !reconnected && dberr.LostBeforeCommit(err, committing):
			reconnected = true
		default:
			return err
		}
	}
}
