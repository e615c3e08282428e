package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
)

// DefaultReconcileInterval is how often tmfd reconciles (--reconcile-interval).
const DefaultReconcileInterval = reconcile.DefaultInterval

// reconciler makes the reconciliation runner of the server and migrates
// its tables. Every node runs the schedule; the runner's lease lets one
// run at a time on the database.
func reconciler(ctx context.Context, st *store.Store, o serveOptions, reg prometheus.Registerer, log *slog.Logger) (*reconcile.Runner, error) {
	r := reconcile.New(st, reconcile.Options{Node: api.DefaultNode() + "/" + o.Listen, Interval: o.ReconcileInterval,
		OutboxRetention: o.OutboxRetention, Logger: log, Registerer: reg, Stock: o.stockStore})
	if err := r.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("reconciliation: %w", err)
	}
	return r, nil
}

// reconcileLoop runs the scheduled reconciliation until ctx ends; an
// interval of 0 leaves only the runs asked for through the API.
func reconcileLoop(ctx context.Context, r *reconcile.Runner, o serveOptions) {
	if o.ReconcileInterval <= 0 {
		r.Wait()
		return
	}
	r.Loop(ctx)
}
