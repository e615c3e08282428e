package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The multi-node tests of issue 17 (docs/scaling.md "Stateless nodes").
// Both need PostgreSQL (TMF_TEST_POSTGRES) and NATS JetStream
// (TMF_TEST_NATS) and build and run tmfd processes. TMF_NODES_SECONDS sets
// how long the buyers run in each (default 6 for CI; 60 or more for a
// soak: TMF_NODES_SECONDS=120 go test -run 'ThreeNodes|ReadModelOutage'
// -v ./cmd/tmfd/).

// nodesSeconds is how long the buyers of the multi-node tests run.
func nodesSeconds(t *testing.T) time.Duration {
	t.Helper()
	seconds := 6
	if v := os.Getenv("TMF_NODES_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("TMF_NODES_SECONDS=%q: want 3 or more", v)
		}
		seconds = n
	}
	return time.Duration(seconds) * time.Second
}

// cluster is what the tmfd nodes of a multi-node test share: one order
// database, a read model database, a JetStream stream of the test's own.
type cluster struct {
	bin, dir, dsn, cfg string
	// rmDSN is the read model as the nodes reach it.
	rmDSN          string
	stream, prefix string
	js             jetstream.JetStream
	st             *store.Store
	// flags of every node.
	flags []string
}

// newCluster prepares a cluster (nothing runs yet). proxied, when not
// nil, turns the read model database's DSN into the one the nodes use (a
// proxy of the test's); else they reach it directly.
func newCluster(t *testing.T, paymentTimeout string, proxied func(direct string) string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs several tmfd processes")
	}
	if !storetest.Available("postgres") {
		t.Skip("TMF_TEST_POSTGRES is not set: skipping the multi-node test (it needs PostgreSQL)")
	}
	natsURL := os.Getenv("TMF_TEST_NATS")
	if natsURL == "" {
		t.Skip("TMF_TEST_NATS is not set (e.g. nats://127.0.0.1:4222): skipping the multi-node test")
	}
	c := &cluster{dsn: storetest.NewDatabase(t, "postgres")}
	c.rmDSN = newReadModelDB(t)
	if proxied != nil {
		c.rmDSN = proxied(c.rmDSN)
	}
	var idb [5]byte
	_, _ = rand.Read(idb[:])
	tag := hex.EncodeToString(idb[:])
	c.stream, c.prefix = "TMF_NODES_"+tag, "nodes"+tag+".events"
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.js.DeleteStream(context.Background(), c.stream) })
	c.bin, c.dir = buildTmfd(t)
	c.cfg = crashConfig(t, c.dir, paymentTimeout)
	c.flags = append(slices.Clone(crashFlags), "--events", natsURL, "--events-stream", c.stream, "--events-subject-prefix", c.prefix,
		"--outbox-lease", "2s", "--read-model-db", c.rmDSN, "--rate-principal", "0",
		"--max-unpaid-orders", "1000000", "--max-unpaid-quantity", "1000000")
	return c
}

// start starts a node with the cluster's flags and extra ones.
func (c *cluster) start(t *testing.T, name string, demo bool, extra ...string) *tmfdProcess {
	t.Helper()
	return startTmfd(t, c.bin, c.dir, name, c.dsn, c.cfg, demo, append(slices.Clone(c.flags), extra...)...)
}

// store opens the cluster's order database for the test's checks.
func (c *cluster) store(t *testing.T) *store.Store {
	t.Helper()
	if c.st == nil {
		st, err := store.Open(t.Context(), c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.st = st
	}
	return c.st
}

// readModelAt opens the read model as dsn reaches it.
func readModelAt(t *testing.T, dsn string) *readmodel.Model {
	t.Helper()
	m, err := readmodel.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// verifyReadModel waits until the read model equals the order store
// (every order's row compared) and answers how long that took.
func (c *cluster) verifyReadModel(t *testing.T, m *readmodel.Model, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		r, err := readmodel.Verify(t.Context(), m, readmodel.StoreSource{Store: c.store(t)}, 500)
		if err == nil && r.Equal() {
			if r.Checked == 0 {
				t.Fatal("the store holds no orders: nothing was compared")
			}
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read model does not equal the order store %s after the load: %v %v", within, r, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkEventsOnce checks that every committed event is in the stream
// exactly once (Nats-Msg-Id deduplicates the relay's re-publishing) and
// nothing else is, and that every order's current version has its event.
// It answers the committed event ids.
func (c *cluster) checkEventsOnce(t *testing.T) map[string]bool {
	t.Helper()
	st := c.store(t)
	waitOutboxDrained(t, st)
	var committed []store.OutboxEvent
	if err := st.DB(t.Context()).Select("id, aggregate_id, topic, version").Find(&committed).Error; err != nil {
		t.Fatal(err)
	}
	want := make(map[string]bool, len(committed))
	lastEvent := map[string]int64{}
	for _, e := range committed {
		want[e.ID] = true
		if strings.HasPrefix(e.Topic, "order.") {
			lastEvent[e.AggregateID] = max(lastEvent[e.AggregateID], e.Version)
		}
	}
	inStream := streamMsgIDs(t, c.js, c.stream)
	seen := map[string]int{}
	for _, id := range inStream {
		seen[id]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("committed event %s is in the stream %d times", id, seen[id])
		}
	}
	for id := range seen {
		if !want[id] {
			t.Errorf("event %s in the stream was never committed", id)
		}
	}
	var orders []store.Order
	if err := st.DB(t.Context()).Select("id, version").Find(&orders).Error; err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if lastEvent[o.ID] != o.Version {
			t.Errorf("order %s is at version %d; its last event names version %d", o.ID, o.Version, lastEvent[o.ID])
		}
	}
	if len(committed) == 0 || len(orders) == 0 {
		t.Fatalf("nothing to check: %d events, %d orders", len(committed), len(orders))
	}
	return want
}

// streamMsgIDs reads every message of the stream and answers their
// Nats-Msg-Id, one per message.
func streamMsgIDs(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for uint64(len(ids)) < info.State.Msgs {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			ids = append(ids, msg.Headers().Get(jetstream.MsgIDHeader))
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			t.Fatal(err)
		}
		if n == 0 && ctx.Err() != nil {
			t.Fatalf("read %d of the stream's %d messages", len(ids), info.State.Msgs)
		}
	}
	return ids
}

// webhookSink is a webhook endpoint that records the webhook-id of every
// delivery.
type webhookSink struct {
	mu  sync.Mutex
	ids map[string]int
	srv *httptest.Server
}

func newWebhookSink(t *testing.T) *webhookSink {
	s := &webhookSink{ids: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.ids[r.Header.Get("webhook-id")]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// missing answers the ids of want not received yet, and how many
// deliveries repeated an id.
func (s *webhookSink) missing(want map[string]bool) (missing []string, repeats int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range want {
		if s.ids[id] == 0 {
			missing = append(missing, id)
		}
	}
	for _, n := range s.ids {
		repeats += n - 1
	}
	return missing, repeats
}

// Three tmfd nodes on one PostgreSQL database behind a round-robin client,
// with everything that runs in the background running: the outbox relay
// to NATS JetStream, the read model's feed on every node, payment
// timeouts (3s) and recovery, webhooks, configuration changes. Buyers pay
// with every kind of card (buyerLoad); a third of the way in, an identity
// is created through one node and every other node must have it in force
// within the documented bound; halfway, a node is SIGKILLed and
// restarted; then a principal's token is rotated and the principal
// deleted through one node, and the very next request on every node must
// be refused. Afterwards every invariant holds: the money and stock
// audits are clean with every order at rest, every committed event is in
// the stream exactly once and every order's version has its event, every
// event after the webhook's creation reached it, and the read model
// equals the store order by order.
func TestThreeNodesSurviveAKillWithEverythingRunning(t *testing.T) {
	c := newCluster(t, "3s", nil)
	sink := newWebhookSink(t)
	c.flags = append(c.flags, "--webhooks-allow-private", "--webhooks-schedule", "1s,1s,2s,5s,10s")
	seconds := nodesSeconds(t)
	nodes := newNodeSet(c.start(t, "n0", true), c.start(t, "n1", false), c.start(t, "n2", false))
	waitStream(t, c.js, c.stream)

	code, hook := crashCall(nodes.node(0).base, crashAdmin, "POST", "/v1/admin/webhooks",
		`{"url":"`+sink.srv.URL+`/hook","eventTypes":["*"]}`, "")
	if code != http.StatusCreated {
		t.Fatalf("create a webhook: %d %v", code, hook)
	}
	var hookAt time.Time
	if err := c.store(t).DB(t.Context()).Raw("SELECT now()").Scan(&hookAt).Error; err != nil {
		t.Fatal(err)
	}
	code, created := crashCall(nodes.node(0).base, crashAdmin, "POST", "/v1/admin/principals", `{"id":"revocable","roles":["buyer"]}`, "")
	if code != http.StatusCreated {
		t.Fatalf("create a principal: %d %v", code, created)
	}
	oldToken, _ := created["token"].(string)

	var load buyerLoad
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { load.run(i, nodes.pick, stop) })
	}

	time.Sleep(seconds / 3)
	lag := configReachesEveryNode(t, nodes)
	t.Logf("a revision applied through node 2 was in force on the other nodes after %v (documented bound: %v, the poll)", lag, ConfigPoll)

	time.Sleep(seconds / 6)
	nodes.kill(t, 1)
	time.Sleep(500 * time.Millisecond)
	nodes.restart(t, 1, c.start(t, "n1-restarted", false))

	revokedEverywhere(t, nodes, oldToken)
	time.Sleep(seconds / 2)
	close(stop)
	wg.Wait()
	loadEnded := time.Now()

	audit := settle(t, nodes.node(0).base)
	committed := c.checkEventsOnce(t)
	var after []string
	if err := c.store(t).DB(t.Context()).Model(&store.OutboxEvent{}).Where("created_at > ?", hookAt).Pluck("id", &after).Error; err != nil {
		t.Fatal(err)
	}
	wantHooks := map[string]bool{}
	for _, id := range after {
		wantHooks[id] = true
	}
	deadline := time.Now().Add(2 * time.Minute)
	var repeats int
	for {
		var missing []string
		missing, repeats = sink.missing(wantHooks)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never reached the webhook, e.g. %v", len(missing), len(wantHooks), missing[:min(5, len(missing))])
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.verifyReadModel(t, readModelAt(t, c.rmDSN), 2*time.Minute)
	caught := time.Since(loadEnded)
	if load.placed.Load() < 20 || load.paid.Load() == 0 {
		t.Fatalf("too little load to mean anything: %d placed, %d paid", load.placed.Load(), load.paid.Load())
	}
	t.Logf("%d orders placed, %d payments answered 200, %d paid orders cancelled, %v orders in the money audit; %d events in the stream once each, "+
		"%d webhook deliveries of %d events (%d repeated); the read model equalled the store %v after the load (all checks before it included)",
		load.placed.Load(), load.paid.Load(), load.cancelled.Load(), audit["orders"], len(committed), len(wantHooks)+repeats, len(wantHooks), repeats,
		caught.Round(time.Millisecond))
}

// configReachesEveryNode creates an identity through the last node and
// waits until every node has the new revision in force; it fails past the
// documented bound (ConfigPoll) with a wide margin for a busy machine, and
// answers the slowest node's delay.
func configReachesEveryNode(t *testing.T, nodes *nodeSet) time.Duration {
	t.Helper()
	through := nodes.node(2).base
	code, out := crashCall(through, crashAdmin, "PUT", "/v1/admin/identities/retail.vip",
		`{"name":"VIP","paymentTimeout":"5m","rules":[{"buyer":{"tier":"vip"}}]}`, "")
	if code != http.StatusCreated {
		t.Fatalf("create retail.vip through node 2: %d %v", code, out)
	}
	rev, _ := out["revision"].(float64)
	applied := time.Now()
	bound := ConfigPoll + 10*time.Second
	var slowest time.Duration
	for i := range 2 {
		for {
			code, list := crashCall(nodes.node(i).base, crashAdmin, "GET", "/v1/admin/identities", "", "")
			if got, _ := list["revision"].(float64); code == http.StatusOK && got >= rev {
				slowest = max(slowest, time.Since(applied))
				break
			}
			if time.Since(applied) > bound {
				t.Fatalf("node %d still has revision %v in force %v after revision %v was applied through node 2", i, list["revision"], bound, rev)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return slowest
}

// revokedEverywhere rotates the principal's token through node 2: the old
// token is refused by the very next request on every node and the new one
// works on every node; then the principal is deleted through node 0 and
// the new token is refused at once everywhere (tokens are never cached).
func revokedEverywhere(t *testing.T, nodes *nodeSet, oldToken string) {
	t.Helper()
	all := func(token string, want int, when string) {
		t.Helper()
		for i := range 3 {
			if code, out := crashCall(nodes.node(i).base, token, "GET", "/v1/orders?limit=1", "", ""); code != want {
				t.Fatalf("%s: node %d answered %d, want %d: %v", when, i, code, want, out)
			}
		}
	}
	all(oldToken, http.StatusOK, "before the rotation")
	code, out := crashCall(nodes.node(2).base, crashAdmin, "POST", "/v1/admin/principals/revocable/token", "", "")
	newToken, _ := out["token"].(string)
	if code != http.StatusOK || newToken == "" {
		t.Fatalf("rotate the token: %d %v", code, out)
	}
	all(oldToken, http.StatusUnauthorized, "the old token after the rotation")
	all(newToken, http.StatusOK, "the new token")
	if code, out := crashCall(nodes.node(0).base, crashAdmin, "DELETE", "/v1/admin/principals/revocable", "", ""); code != http.StatusNoContent {
		t.Fatalf("delete the principal: %d %v", code, out)
	}
	all(newToken, http.StatusUnauthorized, "the token of a deleted principal")
}

// tcpProxy forwards connections to a target until closed; closed, new
// connections are refused and open ones cut; opened again, it listens on
// the same address.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln {
				p.mu.Unlock()
				in.Close()
				out.Close()
				return
			}
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

// close refuses new connections and cuts the open ones.
func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// open listens again on the same address.
func (p *tcpProxy) open(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("listen again on %s: %v", p.addr, err)
}

// through is dsn with its host replaced by the proxy's address.
func (p *tcpProxy) through(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// readRecorder counts the answers of the readers by phase, reader and
// read level.
type readRecorder struct {
	mu     sync.Mutex
	phase  string
	counts map[string]int // phase|reader|level or phase|reader|status
}

func (r *readRecorder) setPhase(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = p
}

func (r *readRecorder) add(reader string, code int, level string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	if code != http.StatusOK {
		r.counts[r.phase+"|"+reader+"|"+strconv.Itoa(code)]++
		return
	}
	r.counts[r.phase+"|"+reader+"|"+level]++
}

func (r *readRecorder) get(phase, reader, what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[phase+"|"+reader+"|"+what]
}

// failures lists the answers other than 200 of a phase.
func (r *readRecorder) failures(phase string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, n := range r.counts {
		parts := strings.Split(k, "|")
		if parts[0] == phase && parts[2][0] >= '0' && parts[2][0] <= '9' {
			out = append(out, fmt.Sprintf("%s answered %s %d times", parts[1], parts[2], n))
		}
	}
	slices.Sort(out)
	return out
}

// readLoop is one reader until stop: a buyer reading its own list and its
// latest order, or the back office (token) listing and reading by id.
func readLoop(reader, token string, latest func() string, pick func() string, rec *readRecorder, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		paths := []string{"/v1/orders?limit=20"}
		if id := latest(); id != "" {
			paths = append(paths, "/v1/orders/"+id)
		}
		for _, path := range paths {
			kind := "list"
			if !strings.Contains(path, "?") {
				kind = "read"
			}
			code, level := readLevelOf(pick(), token, path)
			rec.add(reader+" "+kind, code, level)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readLevelOf GETs path and answers the status and X-TMF-Read-Level.
func readLevelOf(base, token, path string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := crashClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-TMF-Read-Level")
}

// The read model goes away during load, twice: first its consumer stops
// (no node runs the feed: --read-model-feed=false on all three; the test
// runs the one feed and stops it), then its database becomes unreachable
// (the nodes and the feed reach it through a proxy the test closes, which
// cuts the open connections and refuses new ones). Meanwhile buyers place,
// pay and read their orders and own lists, and the back office (the
// administrator, an agent) lists and reads by id through a round-robin
// client. No read answers anything but 200; buyers' reads always come
// from the order store; while the database is unreachable the back
// office's lists come from the store (X-TMF-Read-Level: store-fallback);
// after each outage the read model catches up and equals the order store,
// order by order.
func TestReadModelOutageDuringLoad(t *testing.T) {
	var proxy *tcpProxy
	c := newCluster(t, "1h", func(direct string) string {
		u, err := url.Parse(direct)
		if err != nil {
			t.Fatal(err)
		}
		proxy = newTCPProxy(t, u.Host)
		return proxy.through(t, direct)
	})
	seconds := nodesSeconds(t)
	nodes := newNodeSet(c.start(t, "n0", true, "--read-model-feed=false"), c.start(t, "n1", false, "--read-model-feed=false"),
		c.start(t, "n2", false, "--read-model-feed=false"))
	waitStream(t, c.js, c.stream)
	m := readModelAt(t, c.rmDSN)
	feed := readmodel.NewFeed(m, readmodel.StoreSource{Store: c.store(t)}, c.js, nil,
		readmodel.FeedConfig{Stream: c.stream, SubjectPrefix: c.prefix})
	if err := feed.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopFeed := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := feed.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	var load buyerLoad
	rec := &readRecorder{}
	// runLoad runs buyers and readers for d in the phase named; each phase
	// has buyers of its own (their idempotency keys are theirs).
	phases := 0
	runLoad := func(name string, d time.Duration) {
		rec.setPhase(name)
		phases++
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { load.run(phases*100+i, nodes.pick, stop) })
		}
		for _, r := range []struct {
			name, token string
			latest      func() string
		}{
			{"alice", "demo-alice", load.latestOf("demo-alice")}, {"bob", "demo-bob", load.latestOf("demo-bob")},
			{"admin", crashAdmin, load.latestOf("demo-alice")}, {"agent", "demo-agent-1", func() string { return "" }},
		} {
			wg.Go(func() { readLoop(r.name, r.token, r.latest, nodes.pick, rec, stop) })
		}
		time.Sleep(d)
		close(stop)
		wg.Wait()
	}
	runLoad("before", seconds/3)
	stopFeed()
	runLoad("consumer stopped", seconds/3)
	pending, err := feed.Pending(t.Context())
	if err != nil || pending == 0 {
		t.Fatalf("the stopped consumer has %d events pending (%v): the outage did not happen", pending, err)
	}
	if err := feed.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	caughtUp := c.verifyReadModel(t, m, 2*time.Minute)
	proxy.close()
	runLoad("database unreachable", seconds/3)
	proxy.open(t)
	runLoad("database back", seconds/6)
	caughtUpDB := c.verifyReadModel(t, m, 2*time.Minute)
	stopFeed()

	for _, p := range []string{"before", "consumer stopped", "database unreachable", "database back"} {
		if f := rec.failures(p); len(f) > 0 {
			t.Errorf("%s: %s", p, strings.Join(f, "; "))
		}
		for _, who := range []string{"alice list", "alice read", "bob list", "bob read"} {
			if n := rec.get(p, who, "store"); n == 0 {
				t.Errorf("%s: %s was never answered from the order store", p, who)
			}
			for _, other := range []string{"readmodel", "store-fallback", "cache"} {
				if n := rec.get(p, who, other); n > 0 {
					t.Errorf("%s: %s was answered by %s %d times: a buyer's own reads come from the order store", p, who, other, n)
				}
			}
		}
	}
	for _, who := range []string{"admin list", "agent list"} {
		if rec.get("before", who, "readmodel") == 0 || rec.get("consumer stopped", who, "readmodel") == 0 {
			t.Errorf("%s: not from the read model while it was up (before %d, consumer stopped %d)", who,
				rec.get("before", who, "readmodel"), rec.get("consumer stopped", who, "readmodel"))
		}
		if rec.get("database unreachable", who, "store-fallback") == 0 {
			t.Errorf("%s: never fell back to the order store while the read model's database was unreachable", who)
		}
	}
	if rec.get("database unreachable", "admin read", "store")+rec.get("database unreachable", "admin read", "cache") == 0 {
		t.Error("the administrator's reads by id did not come from the store or the cache while the read model was unreachable")
	}
	if load.placed.Load() < 20 {
		t.Fatalf("too little load to mean anything: %d placed", load.placed.Load())
	}
	t.Logf("%d orders placed; %d events pending when the consumer came back, equal %v later; after the database came back, equal %v after the load",
		load.placed.Load(), pending, caughtUp.Round(time.Millisecond), caughtUpDB.Round(time.Millisecond))
	t.Logf("while unreachable: admin lists %d store-fallback / %d readmodel, agent lists %d / %d; admin reads by id %d store, %d cache",
		rec.get("database unreachable", "admin list", "store-fallback"), rec.get("database unreachable", "admin list", "readmodel"),
		rec.get("database unreachable", "agent list", "store-fallback"), rec.get("database unreachable", "agent list", "readmodel"),
		rec.get("database unreachable", "admin read", "store"), rec.get("database unreachable", "admin read", "cache"))
}
