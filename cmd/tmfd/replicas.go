package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/replica"
	"github.com/tmf-platform/tmf/platform/store"
)

// replicaOptions are the --db-replica settings of tmfd serve.
type replicaOptions struct {
	// DSNs of the order database's read replicas (hot standbys),
	// comma-separated (the options stay comparable); "" takes the
	// configuration file's replicas.
	DSNs string
	// MaxLag: a replica further behind is not used (replica.DefaultMaxLag).
	MaxLag time.Duration
}

// dsnList is a flag that may be given again and takes comma-separated lists.
type dsnList struct{ into *[]string }

func (l dsnList) String() string {
	if l.into == nil {
		return ""
	}
	names := make([]string, len(*l.into))
	for i, d := range *l.into {
		names[i] = replica.Name(d)
	}
	return strings.Join(names, ",")
}

func (l dsnList) Set(v string) error {
	for d := range strings.SplitSeq(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			*l.into = append(*l.into, d)
		}
	}
	return nil
}

// replicaFlags declares --db-replica (TMF_DB_REPLICAS, comma-separated;
// the flags replace the variable's list) and --replica-max-lag
// (TMF_REPLICA_MAX_LAG); the function returned checks them after parsing.
func replicaFlags(fs *flag.FlagSet, getenv func(string) string, o *replicaOptions) func() error {
	var fromEnv []string
	_ = dsnList{&fromEnv}.Set(getenv("TMF_DB_REPLICAS"))
	var fromFlags []string
	fs.Var(dsnList{&fromFlags}, "db-replica", "postgres:// DSN of a read replica of --db (repeat, or a comma-separated list)")
	var envErr error
	o.MaxLag = replica.DefaultMaxLag
	if v := getenv("TMF_REPLICA_MAX_LAG"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			envErr = fmt.Errorf("TMF_REPLICA_MAX_LAG=%q: want a positive duration such as 2s", v)
		}
		o.MaxLag = d
	}
	fs.DurationVar(&o.MaxLag, "replica-max-lag", o.MaxLag, "a read replica further behind the primary is not used")
	return func() error {
		if envErr != nil {
			return envErr
		}
		if o.MaxLag <= 0 {
			return errors.New("--replica-max-lag must be positive")
		}
		o.DSNs = strings.Join(fromEnv, ",")
		if len(fromFlags) > 0 {
			o.DSNs = strings.Join(fromFlags, ",")
		}
		return nil
	}
}

// openReplicas opens the order store's read replicas: the flags' or else
// the configuration file's; none opens nothing (nil). Read replicas need
// PostgreSQL.
func openReplicas(ctx context.Context, st *store.Store, o replicaOptions, file []string, reg prometheus.Registerer, log *slog.Logger) (*replica.Set, error) {
	var dsns []string
	_ = dsnList{&dsns}.Set(o.DSNs)
	if len(dsns) == 0 {
		dsns = file
	}
	if len(dsns) == 0 {
		return nil, nil
	}
	if st.Dialect() != store.Postgres {
		return nil, fmt.Errorf("read replicas (--db-replica, TMF_DB_REPLICAS, replicas in the config file) need PostgreSQL: --db is %s; remove them or use PostgreSQL", st.Dialect())
	}
	set, err := replica.Open(ctx, st, dsns, replica.Options{MaxLag: o.MaxLag, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	if err := set.Metrics().Register(reg); err != nil {
		set.Close()
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	for _, s := range set.Statuses() {
		log.Info("read replica", "replica", s.Name, "up", s.Up, "lag", s.Lag.String(), "maxLag", o.MaxLag.String())
	}
	return set, nil
}
