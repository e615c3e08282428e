package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/stockcenter"
	"github.com/tmf-platform/tmf/platform/store"
)

// stockFile is the "stock" key of the configuration file.
type stockFile struct {
	// DB is the DSN of the stock database (postgres://…, mysql://… or a
	// SQLite file); empty keeps stock in the order database.
	DB string `json:"db,omitempty"`
	// ReservationExpiry: as --stock-reservation-expiry.
	ReservationExpiry duration `json:"reservationExpiry,omitempty"`
}

// stockWiring is where a server keeps its stock: in the order database
// (center nil, the default), or in a database of its own served by the
// stock center.
type stockWiring struct {
	center *stockcenter.Center
	close  func()
}

// db is the store the stock lives in: the stock database, else st.
func (w stockWiring) db(st *store.Store) *store.Store {
	if w.center == nil {
		return st
	}
	return w.center.Stock()
}

// orderOptions put the order service's stock in the stock database.
func (w stockWiring) orderOptions() []order.Option {
	if w.center == nil {
		return nil
	}
	return []order.Option{order.WithStockKeeper(w.center)}
}

// run runs the sweeper and the intent worker until ctx ends.
func (w stockWiring) run(ctx context.Context) {
	if w.center != nil {
		w.center.Run(ctx)
	}
}

// wireStock opens and migrates the stock database when one is configured
// (the flag or TMF_STOCK_DB wins over the file's stock.db).
func wireStock(ctx context.Context, st *store.Store, o serveOptions, f *stockFile, reg prometheus.Registerer, log *slog.Logger) (stockWiring, error) {
	dsn, expiry := o.StockDB, o.StockExpiry
	if f != nil {
		if dsn == "" {
			dsn = f.DB
		}
		if expiry == 0 {
			expiry = time.Duration(f.ReservationExpiry)
		}
	}
	if dsn == "" {
		return stockWiring{close: func() {}}, nil
	}
	sdb, err := store.Open(ctx, dsn)
	if err != nil {
		return stockWiring{}, err
	}
	c, err := stockcenter.New(sdb, stockcenter.One{Store: st}, stockcenter.Options{Expiry: expiry, Registerer: reg, Log: log})
	if err == nil {
		err = c.Migrate(ctx)
	}
	if err != nil {
		_ = sdb.Close()
		return stockWiring{}, err
	}
	log.Info("stock lives in its own database", "dialect", sdb.Dialect(), "reservationExpiry", cmpDuration(expiry, stockcenter.DefaultExpiry))
	return stockWiring{center: c, close: func() { _ = sdb.Close() }}, nil
}

func cmpDuration(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	return d.String()
}

var _ order.StockKeeper = (*stockcenter.Center)(nil)
