package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/store/changes"
)

// StatementCount counts the database round trips made with a context: every
// statement sent (inside or outside a transaction) and every transaction
// begun, committed or rolled back. It is how the round-trip budget of a
// request is measured (see CountStatements); it is safe for concurrent use.
//
// The count is taken below gorm, on the connection pool the store hands
// it, so it sees every statement gorm sends for the store and for the
// domain packages that use Store.DB and Store.Tx, raw SQL included.
type StatementCount struct {
	mu    sync.Mutex
	stmts []string
	txs   int
	ends  int
}

type stmtCountKey struct{}

// CountStatements returns a context whose statements and transactions are
// counted into the returned StatementCount (and into any count of the
// parent context).
func CountStatements(ctx context.Context) (context.Context, *StatementCount) {
	c := &StatementCount{}
	return context.WithValue(ctx, stmtCountKey{}, c), c
}

// Statements is the number of statements sent, BEGIN, COMMIT and ROLLBACK
// not included.
func (c *StatementCount) Statements() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts)
}

// Transactions is the number of transactions begun.
func (c *StatementCount) Transactions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txs
}

// RoundTrips is statements plus every BEGIN, COMMIT and ROLLBACK: what the
// database was asked, one request at a time.
func (c *StatementCount) RoundTrips() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts) + c.txs + c.ends
}

// String lists the statements in order, one a line, with the transactions'
// boundaries.
func (c *StatementCount) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d statements, %d transactions:\n", len(c.stmts), c.txs)
	for _, s := range c.stmts {
		b.WriteString("  ")
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// Reset forgets what was counted.
func (c *StatementCount) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts, c.txs, c.ends = nil, 0, 0
}

// maxCountedSQL is how much of a statement's text a count keeps.
const maxCountedSQL = 160

func (c *StatementCount) add(query string) {
	if len(query) > maxCountedSQL {
		query = query[:maxCountedSQL] + "…"
	}
	c.mu.Lock()
	c.stmts = append(c.stmts, query)
	c.mu.Unlock()
}

func (c *StatementCount) mark(what string) {
	c.mu.Lock()
	switch what {
	case "BEGIN":
		c.txs++
	default:
		c.ends++
	}
	c.stmts = append(c.stmts, "-- "+what)
	c.mu.Unlock()
}

// Statements counted by every store in this process, for the metrics.
var (
	totalStatements   atomic.Int64
	totalTransactions atomic.Int64
)

// StatementTotals is the number of statements and transactions every store
// of this process has sent since it started.
func StatementTotals() (statements, transactions int64) {
	return totalStatements.Load(), totalTransactions.Load()
}

func countOf(ctx context.Context) *StatementCount {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(stmtCountKey{}).(*StatementCount)
	return c
}

func countStatement(ctx context.Context, query string) {
	totalStatements.Add(1)
	if c := countOf(ctx); c != nil {
		c.add(query)
	}
}

// countingPool is the connection pool gorm is given: the store's *sql.DB
// with every statement and transaction counted.
type countingPool struct {
	db      *sql.DB
	changes *changes.Tracker
	work    *wakeups
}

func (p *countingPool) Changes() *changes.Tracker { return p.changes }

func (p *countingPool) InTx() bool { return false }

func (p *countingPool) Marked() bool { return false }

// Changed: a statement outside a transaction is committed when it returns.
func (p *countingPool) Changed(kind string) { p.changes.Invalidate(kind) }

func (p *countingPool) Own(kind string, v int64) { p.changes.Own(kind, v) }

var (
	_ gorm.ConnPool         = (*countingPool)(nil)
	_ gorm.ConnPoolBeginner = (*countingPool)(nil)
	_ gorm.GetDBConnector   = (*countingPool)(nil)
	_ gorm.Tx               = (*countingTx)(nil)
)

func (p *countingPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

func (p *countingPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

func (p *countingPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	countStatement(ctx, query)
	r, err := p.db.ExecContext(ctx, query, args...)
	p.committed(query, err)
	return r, err
}

func (p *countingPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	countStatement(ctx, query)
	r, err := p.db.QueryContext(ctx, query, args...)
	p.committed(query, err)
	return r, err
}

func (p *countingPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	countStatement(ctx, query)
	r := p.db.QueryRowContext(ctx, query, args...)
	p.committed(query, r.Err())
	return r
}

// committed wakes the loops of the work a statement outside a transaction
// created (it is committed when it returns).
func (p *countingPool) committed(query string, err error) {
	if err == nil {
		if t := workOf(query); t != "" {
			p.work.wake(t)
		}
	}
}

func (p *countingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	totalTransactions.Add(1)
	c := countOf(ctx)
	if c != nil {
		c.mark("BEGIN")
	}
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{tx: tx, count: c, changes: p.changes, work: p.work}, nil
}

// countingTx is a transaction of a countingPool.
type countingTx struct {
	tx      *sql.Tx
	count   *StatementCount // of the context that began it
	changes *changes.Tracker
	mu      sync.Mutex
	changed []string // kinds to invalidate after the commit
	own     []ownVersion
	work    *wakeups
	topics  []string // work topics to wake after the commit
}

// created records the work topic of a statement, woken after the commit.
func (t *countingTx) created(query string, err error) {
	if err != nil {
		return
	}
	if w := workOf(query); w != "" {
		t.mu.Lock()
		if !slices.Contains(t.topics, w) {
			t.topics = append(t.topics, w)
		}
		t.mu.Unlock()
	}
}

type ownVersion struct {
	kind string
	v    int64
}

func (t *countingTx) Own(kind string, v int64) {
	t.mu.Lock()
	t.own = append(t.own, ownVersion{kind, v})
	t.mu.Unlock()
}

func (t *countingTx) Changes() *changes.Tracker { return t.changes }

func (t *countingTx) InTx() bool { return true }

func (t *countingTx) Marked() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.changed) > 0
}

func (t *countingTx) Changed(kind string) {
	t.mu.Lock()
	t.changed = append(t.changed, kind)
	t.mu.Unlock()
}

func (t *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	countStatement(ctx, query)
	r, err := t.tx.ExecContext(ctx, query, args...)
	t.created(query, err)
	return r, err
}

func (t *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	countStatement(ctx, query)
	r, err := t.tx.QueryContext(ctx, query, args...)
	t.created(query, err)
	return r, err
}

func (t *countingTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	countStatement(ctx, query)
	r := t.tx.QueryRowContext(ctx, query, args...)
	t.created(query, r.Err())
	return r
}

func (t *countingTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, query)
}

func (t *countingTx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, stmt)
}

func (t *countingTx) Commit() error {
	if t.count != nil {
		t.count.mark("COMMIT")
	}
	err := t.tx.Commit()
	// Also after a failed COMMIT: whether it took effect is unknown.
	t.mu.Lock()
	if err == nil {
		for _, o := range t.own {
			t.changes.Own(o.kind, o.v)
		}
	}
	for _, k := range t.changed {
		t.changes.Invalidate(k)
	}
	if err == nil {
		for _, w := range t.topics {
			t.work.wake(w)
		}
	}
	t.mu.Unlock()
	return err
}

func (t *countingTx) Rollback() error {
	if t.count != nil {
		t.count.mark("ROLLBACK")
	}
	return t.tx.Rollback()
}

// Merge adds what o counted to c.
func (c *StatementCount) Merge(o *StatementCount) {
	o.mu.Lock()
	stmts, txs, ends := append([]string(nil), o.stmts...), o.txs, o.ends
	o.mu.Unlock()
	c.mu.Lock()
	c.stmts = append(c.stmts, stmts...)
	c.txs += txs
	c.ends += ends
	c.mu.Unlock()
}
