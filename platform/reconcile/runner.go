package reconcile

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/platform/periodic"
	"github.com/tmf-platform/tmf/platform/store"
)

// Errors of the runner; match them with errors.Is.
var (
	// ErrBusy: another run holds the lease (in this process or another).
	ErrBusy = errors.New("reconcile: a run is in progress")
	// ErrNotFound: no run or mismatch of that id.
	ErrNotFound = errors.New("reconcile: not found")
	// ErrResolved: the mismatch is resolved already.
	ErrResolved = errors.New("reconcile: mismatch already resolved")
	// ErrBadKind: a run kind other than full or incremental.
	ErrBadKind = errors.New("reconcile: kind is full or incremental")
)

// Defaults of Options.
const (
	DefaultInterval  = 10 * time.Minute
	DefaultFullEvery = 24 * time.Hour
	DefaultLease     = 10 * time.Minute
	DefaultOverlap   = time.Minute
)

// Options configure a Runner. Zero fields take the defaults.
type Options struct {
	// Node names this process in runs and in the lease; default the host
	// name and process id.
	Node string
	// Interval between two scheduled runs (Loop); default 10 minutes.
	Interval time.Duration
	// FullEvery: a scheduled run is full when no full run succeeded within
	// it, incremental otherwise; default 24 hours.
	FullEvery time.Duration
	// Lease is how long a run holds the lease without renewing it; it is
	// renewed every third of it while the run works, so a crashed run
	// blocks others for at most this long. Default 10 minutes.
	Lease time.Duration
	// Overlap is subtracted from the high-water mark, so that orders that
	// committed late, or on a node whose clock is behind, are read again
	// by the next incremental run. Default 1 minute.
	Overlap time.Duration
	// OutboxRetention is how long the store keeps delivered outbox events
	// (tmfd's --outbox-retention); 0 keeps them. The outbox check does not
	// look at transitions older than it.
	OutboxRetention time.Duration
	// Stock is the stock database when stock lives in its own
	// (platform/stockcenter); nil: st. The stock check reads it.
	Stock *store.Store
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Runner runs the checks and stores their results. One run at a time
// across every process on the database: a run holds a lease row
// (tmf_reconcile_lease) taken with a conditional update, which behaves
// the same on SQLite, PostgreSQL and MySQL/MariaDB. Safe for concurrent
// use.
type Runner struct {
	st      *store.Store
	opts    Options
	log     *slog.Logger
	metrics *metrics
	wg      sync.WaitGroup
}

// New makes a runner over st; call Migrate once before the first run.
func New(st *store.Store, opts Options) *Runner {
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.FullEvery <= 0 {
		opts.FullEvery = DefaultFullEvery
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Overlap <= 0 {
		opts.Overlap = DefaultOverlap
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, opts: opts, log: log, metrics: newMetrics(opts.Registerer)}
}

// Migrate creates the runner's tables and the index of orders by
// updated_at that incremental runs read.
func (r *Runner) Migrate(ctx context.Context) error {
	if err := r.st.MigrateModels(ctx, Models()...); err != nil {
		return fmt.Errorf("reconcile: migrate: %w", err)
	}
	db := r.st.DB(ctx)
	if !db.Migrator().HasIndex("tmf_orders", "idx_tmf_orders_updated") {
		err := db.Exec("CREATE INDEX idx_tmf_orders_updated ON tmf_orders (updated_at)").Error
		// Another process may have created it meanwhile.
		if err != nil && !db.Migrator().HasIndex("tmf_orders", "idx_tmf_orders_updated") {
			return fmt.Errorf("reconcile: index orders by updated_at: %w", err)
		}
	}
	return nil
}

// Loop runs reconciliation every Interval until ctx ends (the first run at
// once): full when no full run succeeded within FullEvery, incremental
// otherwise. A tick that finds another run in progress only refreshes the
// metrics.
func (r *Runner) Loop(ctx context.Context) {
	periodic.Run(ctx, r.opts.Interval, r.log, "reconciliation", func(ctx context.Context) error {
		kind, err := r.scheduledKind(ctx)
		if err != nil {
			return err
		}
		_, err = r.Run(ctx, kind, "schedule")
		if errors.Is(err, ErrBusy) {
			return r.RefreshMetrics(ctx)
		}
		return err
	})
	r.wg.Wait()
}

func (r *Runner) scheduledKind(ctx context.Context) (string, error) {
	var n int64
	err := r.st.DB(ctx).Model(&Run{}).Where("kind = ? AND status = ? AND started_at > ?", KindFull, RunSucceeded,
		time.Now().Add(-r.opts.FullEvery)).Count(&n).Error
	if err != nil {
		return "", fmt.Errorf("reconcile: last full run: %w", err)
	}
	if n == 0 {
		return KindFull, nil
	}
	return KindIncremental, nil
}

// Run runs reconciliation now and returns the finished run; ErrBusy when
// another run holds the lease. trigger says who asked ("schedule", "api").
func (r *Runner) Run(ctx context.Context, kind, trigger string) (Run, error) {
	a, err := r.begin(ctx, kind, trigger)
	if err != nil {
		return Run{}, err
	}
	return r.finish(ctx, a)
}

// Start begins a run and returns it at once (status running); the run goes
// on in the background, detached from ctx's cancellation. ErrBusy when
// another run holds the lease. Wait waits for such runs.
func (r *Runner) Start(ctx context.Context, kind, trigger string) (Run, error) {
	a, err := r.begin(ctx, kind, trigger)
	if err != nil {
		return Run{}, err
	}
	r.wg.Go(func() {
		if _, err := r.finish(context.WithoutCancel(ctx), a); err != nil {
			r.log.Error("reconciliation run", "run", a.run.ID, "error", err)
		}
	})
	return a.run, nil
}

// Wait waits until the runs Start began have finished.
func (r *Runner) Wait() { r.wg.Wait() }

type active struct {
	run    Run
	holder string
	stop   func()
}

func newID(at time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// Time first, so that ids sort by start.
	return fmt.Sprintf("%016x%s", at.UnixMicro(), hex.EncodeToString(b[:]))
}

func (r *Runner) begin(ctx context.Context, kind, trigger string) (*active, error) {
	if kind != KindFull && kind != KindIncremental {
		return nil, ErrBadKind
	}
	holder := r.opts.Node + "/" + newID(time.Now())
	ok, err := r.acquire(ctx, holder)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBusy
	}
	// Started once the lease is held: runs never overlap in their times.
	now := stamp(time.Now())
	id := newID(now)
	run := Run{ID: id, Kind: kind, Trigger: trigger, Node: r.opts.Node, Status: RunRunning, StartedAt: now}
	if err := r.st.DB(ctx).Create(&run).Error; err != nil {
		r.release(context.WithoutCancel(ctx), holder)
		return nil, fmt.Errorf("reconcile: record run: %w", err)
	}
	renewCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var renewing sync.WaitGroup
	renewing.Go(func() {
		t := time.NewTicker(r.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				if ok, err := r.acquire(renewCtx, holder); err != nil || !ok {
					r.log.Warn("reconciliation: lease not renewed", "run", id, "held", ok, "error", err)
				}
			}
		}
	})
	return &active{run: run, holder: holder, stop: func() { stop(); renewing.Wait() }}, nil
}

// acquire takes or renews the lease for holder: it succeeds when the lease
// is free, ran out, or is holder's already.
func (r *Runner) acquire(ctx context.Context, holder string) (bool, error) {
	db := r.st.DB(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&lease{Name: "runner"}).Error; err != nil {
		return false, fmt.Errorf("reconcile: lease row: %w", err)
	}
	now := time.Now()
	res := db.Exec("UPDATE tmf_reconcile_lease SET holder = ?, until = ? WHERE name = ? AND (until < ? OR holder = ?)",
		holder, now.Add(r.opts.Lease).UnixMicro(), "runner", now.UnixMicro(), holder)
	if res.Error != nil {
		return false, fmt.Errorf("reconcile: take the lease: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

func (r *Runner) release(ctx context.Context, holder string) {
	err := r.st.DB(ctx).Exec("UPDATE tmf_reconcile_lease SET until = 0 WHERE name = ? AND holder = ?", "runner", holder).Error
	if err != nil {
		r.log.Warn("reconciliation: lease not released; it runs out by itself", "error", err)
	}
}

func (r *Runner) finish(ctx context.Context, a *active) (Run, error) {
	run := a.run
	defer func() {
		a.stop()
		r.release(context.WithoutCancel(ctx), a.holder)
	}()
	start := time.Now()
	findings, err := r.check(ctx, &run)
	if err == nil {
		err = r.record(ctx, &run, findings)
	}
	end := stamp(time.Now())
	run.FinishedAt = &end
	run.Status = RunSucceeded
	if err != nil {
		run.Status, run.Error = RunFailed, truncate(err.Error(), 1024)
	}
	if uerr := r.st.DB(context.WithoutCancel(ctx)).Model(&Run{}).Where("id = ?", run.ID).
		Select("status", "error", "finished_at", "since", "high_water", "orders", "found", "new").Updates(&run).Error; uerr != nil {
		err = errors.Join(err, fmt.Errorf("reconcile: record the end of run %s: %w", run.ID, uerr))
	}
	r.metrics.observeRun(run, time.Since(start))
	if merr := r.RefreshMetrics(context.WithoutCancel(ctx)); merr != nil {
		r.log.Warn("reconciliation: metrics not refreshed", "error", merr)
	}
	r.log.Info("reconciliation run", "run", run.ID, "kind", run.Kind, "status", run.Status, "orders", run.Orders,
		"found", run.Found, "new", run.New, "error", run.Error)
	return run, err
}

// check reads one snapshot of the database and runs every check on it.
func (r *Runner) check(ctx context.Context, run *Run) ([]Finding, error) {
	sc := scope{full: run.Kind == KindFull, at: time.Now(), outboxKept: r.opts.OutboxRetention}
	// The orders' own store as Stock is the single-database mode: its
	// tables are read inside the snapshot below (another connection would
	// deadlock on SQLite's one and see another snapshot elsewhere).
	if r.opts.Stock != nil && r.opts.Stock != r.st {
		sc.stock = r.opts.Stock.DB(ctx)
	}
	if !sc.full {
		var last []Run
		if err := r.st.DB(ctx).Where("status = ? AND high_water IS NOT NULL", RunSucceeded).Order("id DESC").Limit(1).
			Find(&last).Error; err != nil {
			return nil, fmt.Errorf("reconcile: last high-water mark: %w", err)
		}
		if len(last) == 1 {
			since := stamp(last[0].HighWater.Add(-r.opts.Overlap))
			run.Since = &since
		} else {
			sc.full = true // nothing to start from: everything is new
		}
	}
	var out []Finding
	err := r.snapshot(ctx, func(tx *gorm.DB) error {
		var top []store.Order
		if err := tx.Select("updated_at").Order("updated_at DESC").Limit(1).Find(&top).Error; err != nil {
			return fmt.Errorf("reconcile: high-water mark: %w", err)
		}
		if len(top) == 1 {
			hw := stamp(top[0].UpdatedAt)
			run.HighWater = &hw
		} else if run.Since != nil {
			run.HighWater = run.Since
		}
		if sc.full {
			if err := tx.Model(&store.Order{}).Select("COUNT(*)").Scan(&run.Orders).Error; err != nil {
				return fmt.Errorf("reconcile: count orders: %w", err)
			}
		} else {
			if err := tx.Model(&store.Order{}).Where("updated_at > ?", *run.Since).Order("id").Pluck("id", &sc.orders).Error; err != nil {
				return fmt.Errorf("reconcile: orders updated since %s: %w", run.Since, err)
			}
			run.Orders = len(sc.orders)
		}
		for _, c := range []func(context.Context, *gorm.DB, scope) ([]Finding, error){checkStock, checkMoney, checkPromotions, checkOutbox,
			checkSubOrders} {
			found, err := c(ctx, tx, sc)
			if err != nil {
				return err
			}
			out = append(out, found...)
		}
		return nil
	})
	return out, err
}

// snapshot runs fn in a read-only transaction that sees one snapshot of
// the database (REPEATABLE READ on PostgreSQL and MySQL; SQLite's read
// transaction).
func (r *Runner) snapshot(ctx context.Context, fn func(tx *gorm.DB) error) error {
	switch r.st.Dialect() {
	case store.Postgres, store.MySQL:
		return r.st.DB(ctx).Transaction(fn, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	}
	return r.st.DB(ctx).Transaction(fn)
}

// record stores the findings: a finding that matches an open mismatch
// (check, issue, subject, order) refreshes it, another opens one and flags
// its order. A full run resolves the open mismatches it did not see again
// (resolved by "reconciliation").
func (r *Runner) record(ctx context.Context, run *Run, findings []Finding) error {
	now := stamp(time.Now())
	return r.st.DB(ctx).Transaction(func(tx *gorm.DB) error {
		for _, f := range findings {
			ev, err := json.Marshal(f.Evidence)
			if err != nil {
				return fmt.Errorf("reconcile: evidence of %s: %w", f.Subject, err)
			}
			run.Found++
			res := tx.Model(&Mismatch{}).Where("status = ? AND check_name = ? AND issue = ? AND subject = ? AND order_id = ?",
				StatusOpen, f.Check, f.Issue, f.Subject, f.OrderID).
				Updates(map[string]any{"evidence": string(ev), "detail": truncate(f.Detail, 1024), "last_run_id": run.ID, "updated_at": now})
			if res.Error != nil {
				return fmt.Errorf("reconcile: refresh mismatch %s: %w", f.Subject, res.Error)
			}
			if res.RowsAffected > 0 {
				continue
			}
			m := Mismatch{Check: f.Check, Issue: f.Issue, Subject: truncate(f.Subject, 255), OrderID: f.OrderID,
				Detail: truncate(f.Detail, 1024), Evidence: string(ev), Status: StatusOpen, FirstRunID: run.ID, LastRunID: run.ID,
				CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&m).Error; err != nil {
				return fmt.Errorf("reconcile: open mismatch %s: %w", f.Subject, err)
			}
			run.New++
			if f.OrderID != "" {
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Flag{OrderID: f.OrderID,
					Reason: f.Check + "." + f.Issue, MismatchID: m.ID, CreatedAt: now}).Error; err != nil {
					return fmt.Errorf("reconcile: flag order %s: %w", f.OrderID, err)
				}
			}
		}
		if run.Kind != KindFull {
			return nil
		}
		var stale []Mismatch
		if err := tx.Where("status = ? AND last_run_id <> ?", StatusOpen, run.ID).Find(&stale).Error; err != nil {
			return fmt.Errorf("reconcile: mismatches no longer seen: %w", err)
		}
		for _, m := range stale {
			if err := resolveIn(tx, m, "reconciliation", "not found again by full run "+run.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// resolveIn resolves m and clears its order's flag when no other open
// mismatch names the order.
func resolveIn(tx *gorm.DB, m Mismatch, by, note string, now time.Time) error {
	res := tx.Model(&Mismatch{}).Where("id = ? AND status = ?", m.ID, StatusOpen).
		Updates(map[string]any{"status": StatusResolved, "resolved_by": truncate(by, 128), "resolved_at": now,
			"note": truncate(note, 1024), "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("reconcile: resolve mismatch %d: %w", m.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrResolved
	}
	if m.OrderID == "" {
		return nil
	}
	var open int64
	if err := tx.Model(&Mismatch{}).Where("order_id = ? AND status = ?", m.OrderID, StatusOpen).Count(&open).Error; err != nil {
		return fmt.Errorf("reconcile: open mismatches of order %s: %w", m.OrderID, err)
	}
	if open == 0 {
		if err := tx.Where("order_id = ?", m.OrderID).Delete(&Flag{}).Error; err != nil {
			return fmt.Errorf("reconcile: clear the flag of order %s: %w", m.OrderID, err)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// stamp is t as the databases give it back: UTC, in microseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(store.Precision) }

// Hold takes the lease without running checks, for work that must not
// overlap a run (a restore, a bulk fix); release gives it back, and it
// runs out after Options.Lease anyway. ErrBusy when a run holds it.
func (r *Runner) Hold(ctx context.Context) (release func(), err error) {
	holder := r.opts.Node + "/hold/" + newID(time.Now())
	ok, err := r.acquire(ctx, holder)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBusy
	}
	return func() { r.release(context.WithoutCancel(ctx), holder) }, nil
}
