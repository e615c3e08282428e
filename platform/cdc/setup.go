package cdc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotLogical is returned when the server's wal_level is not logical:
// logical replication needs `ALTER SYSTEM SET wal_level = logical` and a
// restart of the server.
var ErrNotLogical = errors.New("cdc: the server's wal_level is not logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)")

// nameRE is what slot and publication names may look like: PostgreSQL
// allows lower-case letters, digits and underscores in slot names.
var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkNames(slot, publication string) error {
	if !nameRE.MatchString(slot) {
		return fmt.Errorf("cdc: slot name %q: want lower-case letters, digits and _ (at most 63)", slot)
	}
	if !nameRE.MatchString(publication) {
		return fmt.Errorf("cdc: publication name %q: want lower-case letters, digits and _ (at most 63)", publication)
	}
	return nil
}

// WALLevel returns the server's wal_level.
func WALLevel(ctx context.Context, conn *pgx.Conn) (string, error) {
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return "", fmt.Errorf("cdc: show wal_level: %w", err)
	}
	return level, nil
}

// Setup creates the publication of tmf_orders and tmf_outbox_events (the
// tables the connection's search_path finds; the outbox is read only for
// the trace context of the orders' changes, see txChanges) and the logical
// replication slot (pgoutput) the listeners read from. Both are kept by the
// server until Drop: the slot holds back WAL from the moment it exists,
// read or not (see docs/operations.md, max_slot_wal_keep_size). Setup is
// idempotent: a slot that exists is left as it is, a publication that
// exists too, except that one made before the feed read the outbox gets
// the outbox added.
func Setup(ctx context.Context, conn *pgx.Conn, slot, publication string) error {
	if err := checkNames(slot, publication); err != nil {
		return err
	}
	level, err := WALLevel(ctx, conn)
	if err != nil {
		return err
	}
	if level != "logical" {
		return ErrNotLogical
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", publication).Scan(&exists); err != nil {
		return fmt.Errorf("cdc: look up publication %s: %w", publication, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+publication+" FOR TABLE "+OrdersTable+", "+OutboxTable); err != nil {
			return fmt.Errorf("cdc: create publication %s: %w", publication, err)
		}
	} else {
		// A publication made before the feed carried trace context has the
		// order table only.
		var has bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2)",
			publication, OutboxTable).Scan(&has); err != nil {
			return fmt.Errorf("cdc: look up the tables of publication %s: %w", publication, err)
		}
		if !has {
			if _, err := conn.Exec(ctx, "ALTER PUBLICATION "+publication+" ADD TABLE "+OutboxTable); err != nil {
				return fmt.Errorf("cdc: add %s to publication %s: %w", OutboxTable, publication, err)
			}
		}
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", slot).Scan(&exists); err != nil {
		return fmt.Errorf("cdc: look up slot %s: %w", slot, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot); err != nil {
			return fmt.Errorf("cdc: create slot %s: %w", slot, err)
		}
	}
	return nil
}

// Drop removes the slot and the publication, so the server stops keeping
// WAL for the feed. A listener still reading the slot is disconnected
// first (its walsender terminated); one that reconnects finds no slot and
// fails. Drop is idempotent.
func Drop(ctx context.Context, conn *pgx.Conn, slot, publication string) error {
	if err := checkNames(slot, publication); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		if err == nil {
			_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
		}
		if err == nil {
			break
		}
		// 55006 object_in_use: the walsender has not exited yet.
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" || time.Now().After(deadline) {
			return fmt.Errorf("cdc: drop slot %s: %w", slot, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+publication); err != nil {
		return fmt.Errorf("cdc: drop publication %s: %w", publication, err)
	}
	return nil
}

// SlotLag is how far the slot's confirmed position is behind the server's
// WAL: the bytes the server keeps for the feed. ok is false when the slot
// does not exist.
func SlotLag(ctx context.Context, conn *pgx.Conn, slot string) (lag int64, ok bool, err error) {
	err = conn.QueryRow(ctx, `SELECT COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lag)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cdc: slot lag of %s: %w", slot, err)
	}
	return lag, true, nil
}
