package store

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/tracing"
)

// Tracing of database transactions: one span per transaction (Tx, and the
// store's own transactions), not one per statement; a gorm callback counts
// the transaction's statements for the span's tmf.db.statements. While
// tracing is off no span is made and the callback finds no counter in the
// statement's context.

// txStats is what a traced transaction counts, kept in its context.
type txStats struct {
	statements atomic.Int64
	attempts   atomic.Int64
}

type txStatsKey struct{}

// txTraceCallback is the name of the statement-counting callback.
const txTraceCallback = "tmf:txtrace_count_statements"

// registerTxTrace adds the callback after every kind of statement gorm
// runs.
func registerTxTrace(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register(txTraceCallback, countTxStatement),
		cb.Query().After("gorm:query").Register(txTraceCallback, countTxStatement),
		cb.Update().After("gorm:update").Register(txTraceCallback, countTxStatement),
		cb.Delete().After("gorm:delete").Register(txTraceCallback, countTxStatement),
		cb.Row().After("gorm:row").Register(txTraceCallback, countTxStatement),
		cb.Raw().After("gorm:raw").Register(txTraceCallback, countTxStatement),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func countTxStatement(db *gorm.DB) {
	if ctx := db.Statement.Context; ctx != nil {
		if st, ok := ctx.Value(txStatsKey{}).(*txStats); ok {
			st.statements.Add(1)
		}
	}
}

// tracedTx runs run (the transaction with its retries) under a span.
func (s *Store) tracedTx(ctx context.Context, run func(ctx context.Context) error) error {
	st := &txStats{}
	ctx, span := tracing.Tracer().Start(context.WithValue(ctx, txStatsKey{}, st), "db transaction",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("db.system.name", dbSystem(s.dialect))))
	err := run(ctx)
	span.SetAttributes(attribute.Int64("tmf.db.statements", st.statements.Load()), attribute.Int64("tmf.db.attempts", st.attempts.Load()))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}

// txAttempt counts one attempt of a traced transaction.
func txAttempt(ctx context.Context) {
	if st, ok := ctx.Value(txStatsKey{}).(*txStats); ok {
		st.attempts.Add(1)
	}
}

// dbSystem is the OpenTelemetry db.system.name of a dialect.
func dbSystem(dialect string) string {
	switch dialect {
	case Postgres:
		return "postgresql"
	case MySQL:
		return "mysql"
	}
	return "sqlite"
}

// stampTrace writes the trace context of the transaction's span on what it
// inserts: the W3C traceparent on outbox events (CloudEvents'
// distributed-tracing extension, put on the event by every relay) and the
// trace id on the order's extension trace.
func stampTrace(tx *gorm.DB, traces []OrderTrace, events []OutboxEvent) {
	ctx := tx.Statement.Context
	if ctx == nil || !tracing.Enabled() {
		return
	}
	tp, ts := tracing.Traceparent(ctx)
	if tp == "" {
		return
	}
	for i := range events {
		if events[i].Traceparent == "" {
			events[i].Traceparent, events[i].Tracestate = tp, ts
		}
	}
	id := trace.SpanContextFromContext(ctx).TraceID().String()
	for i := range traces {
		traces[i].TraceID = id
	}
}
