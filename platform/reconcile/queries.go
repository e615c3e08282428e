package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// GetRun returns a run; ErrNotFound when there is none of that id.
func (r *Runner) GetRun(ctx context.Context, id string) (Run, error) {
	var run Run
	err := r.st.DB(ctx).Where("id = ?", id).Take(&run).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("reconcile: run %s: %w", id, err)
	}
	return run, nil
}

// ListRuns returns up to limit runs, newest first, started before the run
// named by before ("" for the newest). Run ids sort by start.
func (r *Runner) ListRuns(ctx context.Context, before string, limit int) ([]Run, error) {
	q := r.st.DB(ctx).Order("id DESC").Limit(limit)
	if before != "" {
		q = q.Where("id < ?", before)
	}
	out := []Run{}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("reconcile: list runs: %w", err)
	}
	return out, nil
}

// MismatchQuery filters ListMismatches; zero fields do not filter.
type MismatchQuery struct {
	Status  string
	Check   string
	OrderID string
	RunID   string // mismatches that run saw last
	// After is the id of the last mismatch of the previous page.
	After int64
	Limit int
}

// ListMismatches returns mismatches in id order (oldest first).
func (r *Runner) ListMismatches(ctx context.Context, q MismatchQuery) ([]Mismatch, error) {
	db := r.st.DB(ctx).Where("id > ?", q.After).Order("id").Limit(q.Limit)
	if q.Status != "" {
		db = db.Where("status = ?", q.Status)
	}
	if q.Check != "" {
		db = db.Where("check_name = ?", q.Check)
	}
	if q.OrderID != "" {
		db = db.Where("order_id = ?", q.OrderID)
	}
	if q.RunID != "" {
		db = db.Where("last_run_id = ?", q.RunID)
	}
	out := []Mismatch{}
	if err := db.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("reconcile: list mismatches: %w", err)
	}
	return out, nil
}

// GetMismatch returns a mismatch; ErrNotFound when there is none.
func (r *Runner) GetMismatch(ctx context.Context, id int64) (Mismatch, error) {
	var m Mismatch
	err := r.st.DB(ctx).Where("id = ?", id).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Mismatch{}, ErrNotFound
	}
	if err != nil {
		return Mismatch{}, fmt.Errorf("reconcile: mismatch %d: %w", id, err)
	}
	return m, nil
}

// Resolve marks an open mismatch resolved by an operator with a note, and
// clears its order's flag when no other open mismatch names the order.
// ErrNotFound, ErrResolved when it was resolved already.
func (r *Runner) Resolve(ctx context.Context, id int64, by, note string) (Mismatch, error) {
	var out Mismatch
	err := r.st.DB(ctx).Transaction(func(tx *gorm.DB) error {
		var m Mismatch
		err := tx.Where("id = ?", id).Take(&m).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("reconcile: mismatch %d: %w", id, err)
		}
		if m.Status != StatusOpen {
			return ErrResolved
		}
		if err := resolveIn(tx, m, by, note, stamp(time.Now())); err != nil {
			return err
		}
		return tx.Where("id = ?", id).Take(&out).Error
	})
	if err != nil {
		return Mismatch{}, err
	}
	if err := r.RefreshMetrics(ctx); err != nil {
		r.log.Warn("reconciliation: metrics not refreshed", "error", err)
	}
	return out, nil
}

// FlagOf returns the flag of an order, ok false when it has none.
func (r *Runner) FlagOf(ctx context.Context, orderID string) (Flag, bool, error) {
	var f []Flag
	if err := r.st.DB(ctx).Where("order_id = ?", orderID).Limit(1).Find(&f).Error; err != nil {
		return Flag{}, false, fmt.Errorf("reconcile: flag of order %s: %w", orderID, err)
	}
	if len(f) == 0 {
		return Flag{}, false, nil
	}
	return f[0], true, nil
}

// ListFlags returns up to limit flagged orders by order id, after the
// order id after.
func (r *Runner) ListFlags(ctx context.Context, after string, limit int) ([]Flag, error) {
	out := []Flag{}
	if err := r.st.DB(ctx).Where("order_id > ?", after).Order("order_id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("reconcile: list flags: %w", err)
	}
	return out, nil
}
