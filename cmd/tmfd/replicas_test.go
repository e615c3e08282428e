package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/replica"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Replicas come from the flags, else the file; none opens nothing; they
// are refused, naming the database, on SQLite and MySQL.
func TestOpenReplicas(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, dialect := range []string{store.SQLite, store.MySQL} {
		t.Run("refused on "+dialect, func(t *testing.T) {
			st := storetest.Open(t, dialect)
			for _, tc := range []struct {
				flags string
				file  []string
			}{{"postgres://r/db", nil}, {"", []string{"postgres://r/db"}}} {
				_, err := openReplicas(t.Context(), st, replicaOptions{DSNs: tc.flags, MaxLag: replica.DefaultMaxLag}, tc.file, nil, log)
				if err == nil || !strings.Contains(err.Error(), "need PostgreSQL: --db is "+dialect) {
					t.Fatalf("replicas on %s: %v", dialect, err)
				}
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		set, err := openReplicas(t.Context(), storetest.Open(t, store.SQLite), replicaOptions{MaxLag: replica.DefaultMaxLag}, nil, nil, log)
		if set != nil || err != nil {
			t.Fatalf("no replicas: %v, %v", set, err)
		}
	})
	t.Run("the file's, on the standby", func(t *testing.T) {
		r := storetest.OpenReplicated(t)
		reg := prometheus.NewRegistry()
		set, err := openReplicas(t.Context(), r.Store, replicaOptions{MaxLag: replica.DefaultMaxLag}, []string{r.ReplicaDSN}, reg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		if s := set.Statuses(); len(s) != 1 || !s[0].Up {
			t.Fatalf("statuses: %+v", s)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, f := range families {
			names[f.GetName()] = true
		}
		if !names["tmf_replica_up"] || !names["tmf_replica_lag_seconds"] {
			t.Fatalf("registered: %v", names)
		}
	})
}
