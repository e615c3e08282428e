package storetest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/tmf-platform/tmf/platform/store"
)

// EnvPostgresReplica names a streaming hot standby of the server that
// EnvPostgres names (scripts/pg-replica.sh makes one on 127.0.0.1:5433):
// postgres://postgres@127.0.0.1:5433/test?sslmode=disable. Tests of read
// replicas skip when it is unset.
const EnvPostgresReplica = "TMF_TEST_POSTGRES_REPLICA"

// Replicated is a fresh PostgreSQL store and the same database seen
// through the replica server.
type Replicated struct {
	Store *store.Store
	// DSN is the store's; ReplicaDSN the same schema on the replica.
	DSN, ReplicaDSN string
}

// OpenReplicated opens a migrated store as Open does, on PostgreSQL, and
// waits (up to a minute) until the replica has replayed its migration. It
// takes the replica for the rest of the test (LockReplica): tests that
// pause its replay or look at where reads went do not overlap, in any
// package. It skips when EnvPostgres or EnvPostgresReplica is unset.
func OpenReplicated(t testing.TB) Replicated {
	t.Helper()
	base := os.Getenv(EnvPostgresReplica)
	if base == "" {
		t.Skipf("%s is not set: skipping the read replica test (scripts/pg-replica.sh makes one)", EnvPostgresReplica)
	}
	LockReplica(t)
	dsn := NewDatabase(t, store.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	pu, _ := url.Parse(dsn)
	ru, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgresReplica, err)
	}
	q := ru.Query()
	q.Set("search_path", pu.Query().Get("search_path"))
	ru.RawQuery = q.Encode()
	r := Replicated{Store: st, DSN: dsn, ReplicaDSN: ru.String()}
	db := replicaDB(t)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'tmf_orders'",
			pu.Query().Get("search_path")).Scan(&n)
		if err == nil && n == 1 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("storetest: the replica has not replayed the migration after a minute (err %v)", err)
		}
	}
}

// replicaDB is a one-connection pool on the replica server, closed when
// the test ends.
func replicaDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", os.Getenv(EnvPostgresReplica))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// LockReplica holds an advisory lock on the primary for the rest of the
// test, so that no two tests that use the replica run at once (a paused
// replay is the whole server's).
func LockReplica(t testing.TB) {
	t.Helper()
	db, err := sql.Open("pgx", os.Getenv(EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		t.Fatalf("storetest: replica lock: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('tmf_test_replica'))"); err != nil {
		_ = db.Close()
		t.Fatalf("storetest: replica lock: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(); _ = db.Close() }) // closing the session releases the lock
}

// PauseReplay pauses the replica's replay (pg_wal_replay_pause) and
// returns the function that resumes it, which also runs when the test
// ends. Call it only after OpenReplicated (which holds the replica).
func PauseReplay(t testing.TB) (resume func()) {
	t.Helper()
	db := replicaDB(t)
	exec := func(stmt string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Errorf("storetest: %s: %v", stmt, err)
		}
	}
	exec("SELECT pg_wal_replay_pause()")
	resumed := false
	resume = func() {
		if !resumed {
			resumed = true
			exec("SELECT pg_wal_replay_resume()")
		}
	}
	t.Cleanup(resume)
	return resume
}
