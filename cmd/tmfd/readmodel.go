package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
)

// readModelFile is the "readModel" key of the configuration file.
type readModelFile struct {
	// DB is the postgres:// URL of the read model's own database.
	DB string `json:"db,omitempty"`
}

// readModelDSN is the read model's database: the flag or TMF_READ_MODEL_DB,
// else the configuration file's readModel.db; "" for none.
func readModelDSN(flagValue string, f *readModelFile) string {
	if flagValue != "" || f == nil {
		return flagValue
	}
	return f.DB
}

// readModelFlags registers --read-model-feed (TMF_READ_MODEL_FEED, default
// true); the returned function sets o.ReadModelNoFeed after fs.Parse.
func readModelFlags(fs *flag.FlagSet, getenv func(string) string, o *serveOptions) func() error {
	feed, bad := true, ""
	switch v := strings.ToLower(getenv("TMF_READ_MODEL_FEED")); v {
	case "", "1", "true", "yes":
	case "0", "false", "no":
		feed = false
	default:
		bad = v
	}
	fs.BoolVar(&feed, "read-model-feed", feed, "run the read model's feed on this node (default true; false: only read it)")
	return func() error {
		if bad != "" {
			return fmt.Errorf("TMF_READ_MODEL_FEED=%q: use true or false", bad)
		}
		o.ReadModelNoFeed = !feed
		return nil
	}
}

// Read model loops.
const (
	// ReadModelWatch is how often the feed's pending events and the
	// database's health are read for the metrics.
	ReadModelWatch = 5 * time.Second
	// ReadModelOrgSync is how often the organisation tree is copied into
	// the read model (a moved subtree reaches read-model lists within it).
	ReadModelOrgSync = 30 * time.Second
	// ReadModelRetry is the wait before the feed tries to attach to
	// JetStream again when it could not.
	ReadModelRetry = 5 * time.Second
)

// readModelWiring is the read model of a server: what the API uses, the
// loops that feed it, and what closes it.
type readModelWiring struct {
	side  *api.ReadSide
	run   func(ctx context.Context, spawn func(func()))
	close func()
}

// wireReadModel opens and migrates the read model and prepares its feed
// from the event stream (not run with noFeed: other nodes feed it); dsn ""
// wires nothing. The read model is fed only from JetStream, so it needs
// --events.
func wireReadModel(ctx context.Context, st *store.Store, dsn string, noFeed bool, ev eventsOptions, reg prometheus.Registerer, log *slog.Logger) (readModelWiring, error) {
	w := readModelWiring{run: func(context.Context, func(func())) {}, close: func() {}}
	if dsn == "" {
		return w, nil
	}
	if ev.URL == "" {
		return w, errors.New("--read-model-db needs --events: the read model is fed from the JetStream event stream")
	}
	m, err := readmodel.Open(ctx, dsn)
	if err != nil {
		return w, err
	}
	if err := m.Migrate(ctx); err != nil {
		m.Close()
		return w, err
	}
	met := readmodel.NewMetrics()
	if err := met.Register(reg); err != nil {
		m.Close()
		return w, err
	}
	src := readmodel.StoreSource{Store: st}
	reader := readmodel.NewReader(m, src, met, readmodel.ReaderOptions{})
	nc, err := nats.Connect(ev.URL, nats.Name("tmfd read model"), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true)) // NATS down at start: the feed attaches when it answers
	if err != nil {
		m.Close()
		return w, fmt.Errorf("read model: NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		m.Close()
		return w, err
	}
	stream := ev.Stream
	if stream.Name == "" {
		stream.Name = eventbus.DefaultStream
	}
	if stream.SubjectPrefix == "" {
		stream.SubjectPrefix = eventbus.DefaultSubjectPrefix
	}
	feed := readmodel.NewFeed(m, src, js, met, readmodel.FeedConfig{Stream: stream.Name, SubjectPrefix: stream.SubjectPrefix,
		OnApply: reader.Seen, Logger: log})
	w.side = &api.ReadSide{Model: m, Reader: reader, Metrics: met, Status: feed.Status}
	w.run = func(ctx context.Context, spawn func(func())) {
		spawn(func() { feed.Watch(ctx, ReadModelWatch) })
		spawn(func() {
			readmodel.RunOrgSync(ctx, m, src, ReadModelOrgSync, func(err error) {
				log.Warn("read model: copy the organisation tree", "error", err)
			})
		})
		if !noFeed {
			spawn(func() { runFeed(ctx, feed, log) })
		}
	}
	w.close = func() {
		nc.Close()
		m.Close()
	}
	log.Info("read model: back-office lists and reads by id use it", "stream", stream.Name, "feed", !noFeed)
	return w, nil
}

// runFeed attaches the feed to JetStream (again and again while it cannot:
// NATS down, the stream not made yet) and stops it when ctx ends.
func runFeed(ctx context.Context, feed *readmodel.Feed, log *slog.Logger) {
	for {
		err := feed.Start(ctx)
		if err == nil {
			break
		}
		log.Warn("read model: the feed cannot attach to the event stream yet; lists fall back to the order store while it lags", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(ReadModelRetry):
		}
	}
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := feed.Stop(stop); err != nil {
		log.Warn("read model: stop the feed", "error", err)
	}
}

const readModelUsage = `usage: tmfd readmodel rebuild|verify [flags]

rebuild rebuilds the order read model (docs/operations.md "Read model"): empties it, copies the
organisation tree, then copies every order from the order store in (created_at, id) order,
printing "n/N orders, r/s, eta D". Servers may keep running: their feed goes on applying
events meanwhile, and an older state never overwrites a newer one.
verify compares every order of the order store with the read model's row of it (lines,
amounts, attributes, version) and lists the orders missing, behind, ahead, different or extra;
it exits non-zero when they differ. While orders are written they differ by the feed's lag.
Flags (or environment variables TMF_<NAME>):
  --db DSN              the order store (TMF_DB); --db-file F reads it from a file
  --read-model-db DSN   postgres://… of the read model (TMF_READ_MODEL_DB), else the config file's readModel.db
  --config FILE         configuration file (TMF_CONFIG), for readModel.db
  --keep                rebuild: do not empty the read model first: bring every order up to date
  --batch N             orders read and written at once (default 500)`

// readModelCommand runs tmfd readmodel.
func readModelCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" && args[0] != "verify" {
		fmt.Fprintln(stderr, readModelUsage)
		return errors.New("tmfd readmodel: say rebuild or verify")
	}
	verb := args[0]
	fs := flag.NewFlagSet("readmodel "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, readModelUsage) }
	env := os.Getenv
	var db, dbFile, rmDB, config string
	var keep bool
	var batch int
	fs.StringVar(&db, "db", env("TMF_DB"), "order store DSN")
	fs.StringVar(&dbFile, "db-file", env("TMF_DB_FILE"), "file holding the order store DSN")
	fs.StringVar(&rmDB, "read-model-db", env("TMF_READ_MODEL_DB"), "read model DSN")
	fs.StringVar(&config, "config", env("TMF_CONFIG"), "configuration file")
	fs.BoolVar(&keep, "keep", false, "do not empty the read model first")
	fs.IntVar(&batch, "batch", 500, "orders per batch")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if dbFile != "" {
		v, err := readSecret("db-file", dbFile)
		if err != nil {
			return err
		}
		db = v
	}
	if rmDB == "" && config != "" {
		file, err := loadFile(config)
		if err != nil {
			return err
		}
		rmDB = readModelDSN("", file.ReadModel)
	}
	if rmDB == "" {
		return fmt.Errorf("tmfd readmodel %s: no read model: give --read-model-db or readModel.db in --config", verb)
	}
	if batch < 1 || batch > 10_000 {
		return errors.New("--batch is 1 to 10000")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, db)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	m, err := readmodel.Open(ctx, rmDB)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	if verb == "verify" {
		r, err := readmodel.Verify(ctx, m, readmodel.StoreSource{Store: st}, batch)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s)\n", r, time.Since(start).Round(time.Millisecond))
		if !r.Equal() {
			return fmt.Errorf("the read model differs from the order store on %d orders", r.Count)
		}
		return nil
	}
	n, err := readmodel.Rebuild(ctx, m, readmodel.StoreSource{Store: st}, readmodel.RebuildOptions{Reset: !keep, Batch: batch, Progress: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt: %d orders in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
