package api_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/replica"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// tcpProxy forwards connections to target until it is cut: then it
// refuses new ones and drops those it holds, as a replica that went down.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   atomic.Bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(p.Cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			if p.cut.Load() {
				_ = c.Close()
				_ = up.Close()
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

// Cut stops the proxy and drops its connections.
func (p *tcpProxy) Cut() {
	p.cut.Store(true)
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// via points a postgres:// DSN at the proxy.
func (p *tcpProxy) via(dsn string) string {
	u, _ := url.Parse(dsn)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// A buyer reads its own writes at once, on this node and on another one,
// with or without the consistency token, while the replica's replay is
// paused; a reader with no recent write is served by the replica; a
// replica that lags past the bound or is down leaves the primary to answer,
// with current data and never a 5xx; the metrics count the reads per level.
func TestReadReplicas(t *testing.T) {
	r := storetest.OpenReplicated(t)
	ctx := t.Context()
	host := func(dsn string) string { u, _ := url.Parse(dsn); return u.Host }
	proxy := newTCPProxy(t, host(r.ReplicaDSN))
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	opts := replica.Options{MaxLag: 2 * time.Second, Poll: time.Hour, CheckTimeout: 5 * time.Second, Now: now}
	set, err := replica.Open(ctx, r.Store, []string{proxy.via(r.ReplicaDSN)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	e := newEnv(t, r.Store, func(c *api.Config) {
		if err := set.Metrics().Register(c.Registerer); err != nil {
			t.Fatal(err)
		}
		c.Replicas = set
	})

	// Another node: its own store on the same database, its own replica
	// set on the replica, its own API; nothing shared in memory but the
	// kernel's configuration.
	st2, err := store.Open(ctx, r.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	set2, err := replica.Open(ctx, st2, []string{r.ReplicaDSN}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set2.Close)
	pol, err := authz.New(ctx, authz.Options{Source: testPolicy(t), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	other := *e
	other.srv = httptest.NewServer(api.New(api.Config{Service: order.NewService(e.k, st2, order.WithPromotions(e.book)), Store: st2,
		Kernel: e.k, Promotions: e.book, Policy: pol, Replicas: set2}).Handler())
	t.Cleanup(other.srv.Close)
	node2 := &other

	token := func(id string) string {
		tok := "tok-" + id + "-0123456789abcdef0123456789abcdef"
		if err := r.Store.CreatePrincipal(ctx, store.Principal{ID: id, Roles: "buyer", TokenHash: api.TokenHash(tok)}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := token("alice"), token("bob")
	e.sku("mug", 1999, "kitchen", false, 1000)
	place := func(tok string) (order.View, string) {
		t.Helper()
		rep := e.do("POST", "/v1/orders", tok, retailBody("mug", 1), "Idempotency-Key", "k-"+time.Now().Format(time.RFC3339Nano))
		expect(t, rep, 201, "")
		consistency := rep.header.Get(api.HeaderConsistency)
		if !strings.HasPrefix(consistency, "c1.") {
			t.Fatalf("a write answers consistency token %q", consistency)
		}
		return decodeView(t, rep), consistency
	}
	ids := func(rep reply) []string {
		t.Helper()
		if rep.status != 200 {
			t.Fatalf("%s %s: %s", rep.req.Method, rep.req.URL, rep)
		}
		var p order.Page
		if err := json.Unmarshal(rep.raw, &p); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range p.Orders {
			out = append(out, v.ID)
		}
		return out
	}
	level := func(rep reply) string { return rep.header.Get(api.HeaderReadLevel) }
	// caughtUp polls both sets until the replica has everything written
	// so far (the primary's position now), with no lag.
	caughtUp := func() {
		t.Helper()
		mark, err := set.MarkWrite(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		need := replica.ParseToken(mark)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			set.Poll(ctx)
			set2.Poll(ctx)
			s, s2 := set.Statuses()[0], set2.Statuses()[0]
			r1, _ := replica.ParseLSN(s.Replay)
			r2, _ := replica.ParseLSN(s2.Replay)
			if s.Up && s2.Up && r1 >= need && r2 >= need && s.Lag == 0 && s2.Lag == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica did not catch up in a minute: %+v %+v", s, s2)
			}
		}
	}

	b1, _ := place(bob)
	a1, _ := place(alice)
	caughtUp()
	t.Run("a reader with nothing unreplayed reads the replica", func(t *testing.T) {
		for _, n := range []*env{e, node2} {
			n := n.with(t)
			if rep := n.do("GET", "/v1/orders", bob, nil); level(rep) != api.ReadLevelReplica || !slices.Equal(ids(rep), []string{b1.ID}) {
				t.Fatalf("bob's list: %s from %q", rep, level(rep))
			}
			if rep := n.do("GET", "/v1/orders/"+a1.ID, alice, nil); rep.status != 200 || level(rep) != api.ReadLevelReplica {
				t.Fatalf("alice's order: %s from %q", rep, level(rep))
			}
		}
	})

	resume := storetest.PauseReplay(t)
	t.Run("read your writes while the replica stands still", func(t *testing.T) {
		for i := range 3 {
			a, consistency := place(alice)
			for _, n := range []*env{e, node2} {
				n := n.with(t)
				for _, hdr := range [][]string{nil, {api.HeaderConsistency, consistency}} {
					rep := n.do("GET", "/v1/orders?limit=100", alice, nil, hdr...)
					if !slices.Contains(ids(rep), a.ID) || level(rep) != api.ReadLevelStore {
						t.Fatalf("write %d: alice's list lacks %s or came from %q: %s", i, a.ID, level(rep), rep)
					}
					if rep := n.do("GET", "/v1/orders/"+a.ID, alice, nil, hdr...); rep.status != 200 || level(rep) != api.ReadLevelStore {
						t.Fatalf("write %d: alice reads %s: %s from %q", i, a.ID, rep, level(rep))
					}
				}
			}
		}
		// Bob wrote nothing since: the replica, within the lag bound, is his.
		if rep := node2.with(t).do("GET", "/v1/orders", bob, nil); level(rep) != api.ReadLevelReplica || !slices.Equal(ids(rep), []string{b1.ID}) {
			t.Fatalf("bob's list: %s from %q", rep, level(rep))
		}
	})

	t.Run("a replica past the lag bound is not used", func(t *testing.T) {
		b2, _ := place(bob) // the primary moves on; the replica does not
		advance(3 * time.Second)
		set.Poll(ctx)
		if s := set.Statuses()[0]; !s.Up || s.Lag <= 2*time.Second {
			t.Fatalf("status after 3s paused: %+v", s)
		}
		// Carol has never written: only the lag keeps her off the replica,
		// and the primary's answer is current.
		carol := token("carol")
		if rep := e.with(t).do("GET", "/v1/orders", carol, nil); rep.status != 200 || level(rep) != api.ReadLevelStore {
			t.Fatalf("carol's list: %s from %q", rep, level(rep))
		}
		if rep := e.with(t).do("GET", "/v1/orders?limit=100", adminToken, nil); level(rep) != api.ReadLevelStore || !slices.Contains(ids(rep), b2.ID) {
			t.Fatalf("the admin's list lacks %s or came from %q: %s", b2.ID, level(rep), rep)
		}
	})

	resume()
	caughtUp()
	t.Run("back on the replica once it caught up", func(t *testing.T) {
		rep := e.with(t).do("GET", "/v1/orders?limit=100", alice, nil)
		if level(rep) != api.ReadLevelReplica || len(ids(rep)) != 4 {
			t.Fatalf("alice's list after the replay resumed: %s from %q", rep, level(rep))
		}
	})

	t.Run("a replica that is down is not used", func(t *testing.T) {
		proxy.Cut()
		// Down since the last poll: the read fails there and the primary
		// answers it.
		if rep := e.with(t).do("GET", "/v1/orders?limit=100", alice, nil); level(rep) != api.ReadLevelStore || len(ids(rep)) != 4 {
			t.Fatalf("alice's list as the replica went down: %s from %q", rep, level(rep))
		}
		set.Poll(ctx)
		if s := set.Statuses()[0]; s.Up {
			t.Fatalf("status of a replica that is down: %+v", s)
		}
		if rep := e.with(t).do("GET", "/v1/orders/"+b1.ID, bob, nil); rep.status != 200 || level(rep) != api.ReadLevelStore {
			t.Fatalf("bob's order with the replica down: %s from %q", rep, level(rep))
		}
		a, _ := place(alice) // writes do not care
		if rep := e.with(t).do("GET", "/v1/orders?limit=100", alice, nil); !slices.Contains(ids(rep), a.ID) {
			t.Fatalf("alice's list lacks %s: %s", a.ID, rep)
		}
	})

	metrics := string(e.do("GET", "/metrics", "", nil).raw)
	for _, want := range []string{
		`tmf_replica_reads_total{level="replica",reason="ok"}`,
		`tmf_replica_reads_total{level="primary",reason="read_your_writes"}`,
		`tmf_replica_reads_total{level="primary",reason="lag"}`,
		`tmf_replica_reads_total{level="primary",reason="replica_failed"} 1`,
		`tmf_replica_reads_total{level="primary",reason="down"}`,
		`tmf_replica_lag_seconds{replica=`,
		`tmf_replica_up{replica="` + proxy.ln.Addr().String(),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "tmf_replica_"))
		}
	}
}
