package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// tmfd readmodel rebuild copies every order of the store into the read
// model named by the configuration file, with its progress line.
func TestReadModelRebuildCommand(t *testing.T) {
	base := os.Getenv(storetest.EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set: skipping the read model rebuild test", storetest.EnvPostgres)
	}
	dsn := storetest.NewDatabase(t, store.Postgres)
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for i, id := range []string{"o-1", "o-2", "o-3"} {
		o := store.Order{ID: id, BizCode: "retail", BuyerID: "alice", Status: "pending_payment", Currency: "CNY", Total: 100,
			Version: int64(i + 1), CreatedAt: at, UpdatedAt: at}
		if err := st.DB(t.Context()).Create(&o).Error; err != nil {
			t.Fatal(err)
		}
	}
	rmDSN := newReadModelDB(t)
	cfg := filepath.Join(t.TempDir(), "tmf.yaml")
	if err := os.WriteFile(cfg, []byte("readModel:\n  db: "+rmDSN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"readmodel", "rebuild", "--db", dsn, "--config", cfg, "--batch", "2"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "3/3 orders, ") || !strings.Contains(out.String(), "rebuilt: 3 orders") {
		t.Fatalf("output:\n%s", out.String())
	}
	m, err := readmodel.Open(t.Context(), rmDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n, err := m.Count(t.Context()); err != nil || n != 3 {
		t.Fatalf("the read model holds %d orders, %v", n, err)
	}
	// verify: equal now; an order the read model lacks makes it fail and
	// name the order.
	out.Reset()
	if err := run(context.Background(), []string{"readmodel", "verify", "--db", dsn, "--config", cfg}, &out, &errOut); err != nil ||
		!strings.Contains(out.String(), "equal: 3 orders") {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	late := store.Order{ID: "o-4", BizCode: "retail", BuyerID: "alice", Status: "pending_payment", Currency: "CNY", Total: 100,
		Version: 1, CreatedAt: at, UpdatedAt: at}
	if err := st.DB(t.Context()).Create(&late).Error; err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"readmodel", "verify", "--db", dsn, "--config", cfg}, &out, &errOut); err == nil ||
		!strings.Contains(out.String(), "missing o-4") {
		t.Fatalf("verify with an order missing: %v\n%s", err, out.String())
	}
	// Without a read model named anywhere, the command says what is missing.
	if err := run(context.Background(), []string{"readmodel", "rebuild", "--db", dsn}, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "--read-model-db") {
		t.Fatalf("no read model: %v", err)
	}
	// A server given a read model without --events refuses to start.
	if _, err := wireReadModel(t.Context(), st, rmDSN, false, eventsOptions{}, nil, nil); err == nil || !strings.Contains(err.Error(), "--events") {
		t.Fatalf("read model without events: %v", err)
	}
}

// newReadModelDB creates a database of the test's own for a read model on
// the PostgreSQL server of TMF_TEST_POSTGRES (the caller skips without
// it) and drops it when the test ends.
func newReadModelDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv(storetest.EnvPostgres)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tmf_rm_cmd_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
