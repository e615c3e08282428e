// Package cdctest gives tests of the change-data-capture feed what they
// need from the real servers: a PostgreSQL database with wal_level=logical
// (TMF_TEST_POSTGRES), a slot and publication of their own, and a NATS
// JetStream server (TMF_TEST_NATS, e.g. nats://127.0.0.1:4222) with a
// stream of their own. A test whose variable is unset, or whose server does
// not run wal_level=logical, is skipped with a message saying so. Every
// name is unique and everything made is dropped when the test ends, so
// tests may run in parallel with other people's on the same servers.
package cdctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/cdc"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// EnvNATS names the NATS server of the tests.
const EnvNATS = "TMF_TEST_NATS"

// NATSURL returns the NATS server's URL or skips the test.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvNATS)
	if u == "" {
		t.Skipf("%s is not set: skipping (it needs NATS JetStream, e.g. %s=nats://127.0.0.1:4222)", EnvNATS, EnvNATS)
	}
	return u
}

// Database returns the DSN of a fresh, empty schema on the PostgreSQL of
// TMF_TEST_POSTGRES (dropped when the test ends), or skips the test when
// the variable is unset or the server's wal_level is not logical.
func Database(t testing.TB) string {
	t.Helper()
	if !storetest.Available("postgres") {
		t.Skipf("%s is not set: skipping (change data capture needs PostgreSQL)", storetest.EnvPostgres)
	}
	conn := Connect(t, os.Getenv(storetest.EnvPostgres))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	level, err := cdc.WALLevel(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		t.Skipf("PostgreSQL runs wal_level=%s: skipping (change data capture needs wal_level=logical; .ci/run sets it)", level)
	}
	return storetest.NewDatabase(t, "postgres")
}

// Connect opens a connection closed when the test ends.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("cdctest: connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Names returns a unique slot and publication name; they are dropped when
// the test ends. Create them with cdc.Setup (or tmfd cdc setup) after the
// order table exists.
func Names(t testing.TB, dsn string) (slot, publication string) {
	t.Helper()
	name := "tmf_cdc_t_" + random()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("cdctest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if err := cdc.Drop(ctx, conn, name, name); err != nil {
			t.Errorf("cdctest: %v", err)
		}
	})
	return name, name
}

// Stream is a JetStream stream of the test's own.
type Stream struct {
	JS jetstream.JetStream
	// Name of the stream, and the SubjectPrefix its subjects
	// (SubjectPrefix + ".>") start with.
	Name, SubjectPrefix string
}

// NewStream connects to NATS and names a unique stream and subject prefix;
// the stream is deleted when the test ends. With create, the stream is
// created now; otherwise the code under test creates it.
func NewStream(t testing.TB, url string, create bool) Stream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("cdctest: connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	id := random()
	s := Stream{JS: js, Name: "TMF_CDC_T_" + strings.ToUpper(id), SubjectPrefix: "tmfcdct" + id}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, s.Name); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("cdctest: delete stream %s: %v", s.Name, err)
		}
	})
	if create {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: s.Name, Subjects: []string{s.SubjectPrefix + ".>"}}); err != nil {
			t.Fatalf("cdctest: create stream %s: %v", s.Name, err)
		}
	}
	return s
}

func random() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Received is one message the collector read.
type Received struct {
	Subject, MsgID string
	Event          events.CloudEvent
	At             time.Time // when the collector received it
}

// Collector reads every message of a stream, from its first, as they come.
type Collector struct {
	mu  sync.Mutex
	got []Received
	bad []string
}

// Collect starts an ordered consumer on the stream; it stops when the test
// ends.
func Collect(t testing.TB, s Stream) *Collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := s.JS.OrderedConsumer(ctx, s.Name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("cdctest: consumer on %s: %v", s.Name, err)
	}
	c := &Collector{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		r := Received{Subject: m.Subject(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), At: time.Now()}
		err := json.Unmarshal(m.Data(), &r.Event)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.bad = append(c.bad, fmt.Sprintf("%s: %v", m.Subject(), err))
			return
		}
		c.got = append(c.got, r)
	})
	if err != nil {
		t.Fatalf("cdctest: consume %s: %v", s.Name, err)
	}
	t.Cleanup(cc.Stop)
	return c
}

// Received returns what arrived so far, and messages that were not
// CloudEvents JSON.
func (c *Collector) Received() ([]Received, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got), slices.Clone(c.bad)
}

// WaitFor polls until done holds for what arrived, for at most limit.
func (c *Collector) WaitFor(t testing.TB, limit time.Duration, what string, done func([]Received) bool) []Received {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, _ := c.Received()
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("cdctest: %s: not after %s (%d messages)", what, limit, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
