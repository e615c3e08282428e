// Command tmfbench drives a running tmfd: N concurrent buyers place (and
// some pay) orders over a SKU mix that includes one hot SKU, with a progress
// line every second. At the end it prints orders/s, latency percentiles and
// errors by problem code, and checks the stock invariant of every SKU it
// used through the API: put in = sellable + reserved + frozen + shipped,
// nothing negative, and no more units sold than were put in.
//
//	tmfbench --admin-token TOKEN [--url http://127.0.0.1:8080] [--buyers 16] [--duration 10s]
//	         [--skus 100] [--hot 0.2] [--hot-stock 1000] [--pay 0.5] [--sql DSN]
//
// With --sql it also measures, in the same run, the bare floor of a
// placement against that database: one transaction with the stock
// decrement, its ledger row, the order, its line, its history row and its
// outbox event, in bare SQL (see baseline.go), so that the placement rate
// can be stated as a share of it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	URL        string
	AdminToken string
	Buyers     int
	Duration   time.Duration
	SKUs       int
	Hot        float64
	HotStock   int64
	Stock      int64
	Pay        float64
	SQL        string
	BizCode    string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tmfbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("tmfbench", flag.ContinueOnError)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&o.AdminToken, "admin-token", os.Getenv("TMF_ADMIN_TOKEN"), "administrator token (to seed SKUs, stock and buyers)")
	fs.IntVar(&o.Buyers, "buyers", 16, "concurrent buyers")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	fs.IntVar(&o.SKUs, "skus", 100, "number of spread SKUs")
	fs.Float64Var(&o.Hot, "hot", 0.2, "fraction of orders for the one hot SKU")
	fs.Int64Var(&o.HotStock, "hot-stock", 1000, "stock of the hot SKU (small, so it sells out and out-of-stock is exercised)")
	fs.Int64Var(&o.Stock, "stock", 1_000_000, "stock of every spread SKU")
	fs.Float64Var(&o.Pay, "pay", 0.5, "fraction of placed orders that are paid")
	fs.StringVar(&o.SQL, "sql", "", "DSN of the server's database, to measure the bare-SQL baseline in the same run")
	fs.StringVar(&o.BizCode, "biz-code", "", "business identity the orders name (default: none, the server's rules resolve it; naming one needs the policy's leave to choose it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.AdminToken == "" {
		return fmt.Errorf("--admin-token (or TMF_ADMIN_TOKEN) is required to seed the run")
	}
	if o.Buyers < 1 || o.SKUs < 1 || o.Hot < 0 || o.Hot > 1 || o.Pay < 0 || o.Pay > 1 {
		return fmt.Errorf("--buyers and --skus must be positive, --hot and --pay between 0 and 1")
	}
	b := newBench(o, out)
	if err := b.seed(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	res := b.drive(ctx)
	res.print(out)
	if err := b.checkInvariant(ctx, res); err != nil {
		return err
	}
	if o.SQL != "" {
		base, err := baseline(ctx, o)
		if err != nil {
			return fmt.Errorf("bare-SQL baseline: %w", err)
		}
		fmt.Fprintf(out, "bare SQL, one placement transaction, %d connections: %.0f orders/s\n", o.Buyers, base)
	}
	return nil
}
