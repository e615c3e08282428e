package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Without a stock database stock stays in the order store; with one (the
// flag winning over the file), orders reserve through the stock center and
// stock reads and writes go to the stock database.
func TestWireStock(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	log := slog.New(slog.DiscardHandler)
	none, err := wireStock(t.Context(), st, serveOptions{}, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer none.close()
	if none.center != nil || none.db(st) != st || none.orderOptions() != nil {
		t.Fatalf("no stock database configured, yet %+v", none)
	}
	file := &stockFile{DB: filepath.Join(t.TempDir(), "not-used.db")}
	flagDB := filepath.Join(t.TempDir(), "stock.db")
	w, err := wireStock(t.Context(), st, serveOptions{StockDB: flagDB}, file, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if w.center == nil || w.db(st) == st || len(w.orderOptions()) != 1 {
		t.Fatalf("stock database configured, yet %+v", w)
	}
	if !w.db(st).DB(t.Context()).Migrator().HasTable("tmf_stock_reservations") ||
		!st.DB(t.Context()).Migrator().HasTable("tmf_stock_intents") {
		t.Fatal("the center's tables were not created")
	}
	if _, err := os.Stat(flagDB); err != nil {
		t.Fatalf("the flag's database: %v", err)
	}
	if _, err := os.Stat(file.DB); !os.IsNotExist(err) {
		t.Fatalf("the file's database was opened (%v): the flag must win", err)
	}
}
