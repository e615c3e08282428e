package eventbus_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// proxy forwards TCP to NATS until cut, so a test can take "NATS" away
// from the relay without stopping the shared server.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *proxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		ln, err = net.Listen("tcp", p.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// While NATS is unreachable, orders still commit and their events wait in
// the outbox; when it is back, the relay drains them, each once.
func TestRelayQueuesThroughANATSOutage(t *testing.T) {
	t.Parallel()
	url := natsURL(t)
	p := &proxy{addr: "127.0.0.1:0", target: strings.TrimPrefix(url, "nats://")}
	p.up(t)
	defer p.down()
	id := unique()
	stream := eventbus.Stream{Name: "OUTAGE_" + id, SubjectPrefix: "outage" + id, MaxAge: time.Hour}
	pub, err := eventbus.Connect(eventbus.Options{URL: "nats://" + p.addr, Stream: stream, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream.Name) })

	st := storetest.Open(t, store.SQLite)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			ev := store.OutboxEvent{ID: fmt.Sprintf("%s-%03d", id, i), Topic: "order.placed", AggregateID: fmt.Sprintf("o%d", i),
				BizCode: "retail", Version: 1, Payload: `{}`, CreatedAt: time.Now().UTC()}
			if err := st.DB(t.Context()).Create(&ev).Error; err != nil {
				t.Fatalf("an event could not be committed while NATS is down: %v", err)
			}
		}
	}
	backlog := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, err := st.Backlog(t.Context())
			if err == nil && b.Count == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("backlog %+v (%v), want %d", b, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	relay := outbox.New(st, outbox.Options{Publisher: pub, Interval: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Lease: 10 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	write(0, 20)
	backlog(0)
	p.down()
	deadline := time.Now().Add(30 * time.Second)
	for pub.Connected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	write(20, 50)
	if b, _ := st.Backlog(t.Context()); b.Count != 30 {
		t.Fatalf("backlog during the outage: %+v, want 30", b)
	}
	p.up(t)
	backlog(0)
	s, err := js.Stream(t.Context(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 50 {
		t.Fatalf("the stream holds %d messages after the outage, want 50", info.State.Msgs)
	}
}
