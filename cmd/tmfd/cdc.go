package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tmf-platform/tmf/platform/cdc"
)

const cdcUsage = `usage: tmfd cdc [setup|drop] [flags]

Change data capture of the order table (PostgreSQL only; docs/events.md, docs/operations.md).
  tmfd cdc setup   creates the publication and the logical replication slot (idempotent)
  tmfd cdc drop    drops them: the server stops keeping WAL for the feed (idempotent)
  tmfd cdc         runs a listener: the one holding the lock reads the slot and publishes
                   order.changed events to JetStream; the others wait as hot standbys
Flags (or environment variables TMF_<NAME>):
  --db DSN              postgres://… of the order database (TMF_DB); --db-file F reads it from a file
  --slot NAME           replication slot (TMF_CDC_SLOT, default tmf_cdc)
  --publication NAME    publication of tmf_orders (TMF_CDC_PUBLICATION, default tmf_cdc)
  --nats URL            NATS server (TMF_CDC_NATS, default nats://127.0.0.1:4222)
  --stream NAME         JetStream stream, created when missing (TMF_CDC_STREAM, default TMF_EVENTS)
  --stream-subjects S   comma-separated subjects of a stream created here (default <prefix>.>)
  --subject-prefix P    subjects are P.order.changed.<bizCode> (TMF_CDC_SUBJECT_PREFIX, default tmf.events)
  --source URI          CloudEvents source (TMF_CDC_SOURCE, default urn:tmf:platform)
  --max-in-flight N     changes published and not yet acknowledged (TMF_CDC_MAX_IN_FLIGHT, default 1024)
  --metrics-listen ADDR serve Prometheus metrics on ADDR/metrics (TMF_CDC_METRICS_LISTEN; default off)`

// cdcOptions are the settings of tmfd cdc.
type cdcOptions struct {
	Action        string // "", "setup" or "drop"
	Config        cdc.Config
	MetricsListen string
}

// parseCDC reads tmfd cdc's flags, falling back to TMF_<NAME> variables.
func parseCDC(args []string, getenv func(string) string, stderr io.Writer) (cdcOptions, error) {
	var o cdcOptions
	if len(args) > 0 && (args[0] == "setup" || args[0] == "drop") {
		o.Action, args = args[0], args[1:]
	}
	env := func(name, def string) string {
		if v := getenv("TMF_" + name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("cdc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, cdcUsage) }
	c := &o.Config
	var dbFile, subjects string
	fs.StringVar(&c.DSN, "db", env("DB", ""), "postgres:// DSN of the order database")
	fs.StringVar(&dbFile, "db-file", env("DB_FILE", ""), "file holding the DSN")
	fs.StringVar(&c.Slot, "slot", env("CDC_SLOT", cdc.DefaultSlot), "replication slot")
	fs.StringVar(&c.Publication, "publication", env("CDC_PUBLICATION", cdc.DefaultPublication), "publication of tmf_orders")
	fs.StringVar(&c.NATSURL, "nats", env("CDC_NATS", "nats://127.0.0.1:4222"), "NATS server")
	fs.StringVar(&c.Stream, "stream", env("CDC_STREAM", cdc.DefaultStream), "JetStream stream")
	fs.StringVar(&subjects, "stream-subjects", env("CDC_STREAM_SUBJECTS", ""), "subjects of a stream created here")
	fs.StringVar(&c.SubjectPrefix, "subject-prefix", env("CDC_SUBJECT_PREFIX", cdc.DefaultSubjectPrefix), "subject prefix")
	fs.StringVar(&c.Source, "source", env("CDC_SOURCE", ""), "CloudEvents source")
	fs.StringVar(&o.MetricsListen, "metrics-listen", env("CDC_METRICS_LISTEN", ""), "address of /metrics")
	maxInFlight := cdc.DefaultMaxInFlight
	if v := getenv("TMF_CDC_MAX_IN_FLIGHT"); v != "" {
		if _, err := fmt.Sscan(v, &maxInFlight); err != nil || maxInFlight < 1 {
			return o, fmt.Errorf("TMF_CDC_MAX_IN_FLIGHT=%q: want a number of at least 1", v)
		}
	}
	fs.IntVar(&c.MaxInFlight, "max-in-flight", maxInFlight, "changes published and not yet acknowledged")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, errors.New("cdc takes no arguments besides setup or drop: " + strings.Join(fs.Args(), " "))
	}
	if dbFile != "" {
		v, err := readSecret("db-file", dbFile)
		if err != nil {
			return o, err
		}
		c.DSN = v
	}
	if c.DSN == "" {
		return o, errors.New("cdc needs --db postgres://… (TMF_DB)")
	}
	if !strings.HasPrefix(c.DSN, "postgres://") && !strings.HasPrefix(c.DSN, "postgresql://") {
		return o, errors.New("cdc needs a PostgreSQL database (postgres://…): MariaDB and SQLite keep the outbox relay only")
	}
	if c.MaxInFlight < 1 {
		return o, errors.New("--max-in-flight must be at least 1")
	}
	if subjects != "" {
		c.StreamSubjects = strings.Split(subjects, ",")
	}
	return o, nil
}

// runCDC runs tmfd cdc: setup, drop, or a listener until ctx is done.
func runCDC(ctx context.Context, o cdcOptions, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if o.Action != "" {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		conn, err := pgx.Connect(cctx, o.Config.DSN)
		if err != nil {
			return fmt.Errorf("cdc %s: connect: %w", o.Action, err)
		}
		defer conn.Close(context.Background())
		if o.Action == "setup" {
			err = cdc.Setup(cctx, conn, o.Config.Slot, o.Config.Publication)
		} else {
			err = cdc.Drop(cctx, conn, o.Config.Slot, o.Config.Publication)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cdc %s: slot %s, publication %s\n", o.Action, o.Config.Slot, o.Config.Publication)
		return nil
	}
	reg := prometheus.NewRegistry()
	o.Config.Metrics = cdc.NewMetrics(reg)
	o.Config.Logger = log
	l, err := cdc.New(o.Config)
	if err != nil {
		return err
	}
	if o.MetricsListen != "" {
		ln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			return fmt.Errorf("cdc: metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("cdc: metrics", "addr", ln.Addr().String())
	}
	return l.Run(ctx)
}

// cdcCommand is tmfd cdc's entry from run.
func cdcCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, cdcUsage)
		return nil
	}
	o, err := parseCDC(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runCDC(ctx, o, stdout, stderr)
}
