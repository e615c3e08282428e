package consumer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/consumer"
)

func jetStream(t *testing.T) (jetstream.JetStream, string, string) {
	t.Helper()
	url := os.Getenv("TMF_TEST_NATS")
	if url == "" {
		t.Skip("TMF_TEST_NATS is not set (e.g. nats://127.0.0.1:4222): skipping the consumer test")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	stream, prefix := "TEST_CONSUMER_"+id, "t"+id
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	return js, stream, prefix
}

func publish(t *testing.T, js jetstream.JetStream, prefix string, ce events.CloudEvent) {
	t.Helper()
	ce.SpecVersion, ce.Source, ce.DataContentType, ce.Time = events.SpecVersion, "urn:tmf:test", "application/json", time.Now().UTC()
	if ce.Data == nil {
		ce.Data = json.RawMessage(`{}`)
	}
	b, _ := json.Marshal(ce)
	// No Nats-Msg-Id: the stream keeps duplicates, the consumer drops them.
	if _, err := js.Publish(t.Context(), prefix+"."+ce.Type+".retail", b); err != nil {
		t.Fatal(err)
	}
}

type seen struct {
	mu    sync.Mutex
	calls map[string]int
	order map[string][]int64 // subject → versions handled
	all   int
}

func (s *seen) total() int { s.mu.Lock(); defer s.mu.Unlock(); return s.all }

func TestConsumer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		dropStale bool
		// published in this order: subject/version/id
		events   []events.CloudEvent
		failOnce string
		// want: handled event ids and versions per subject, in order
		wantCalls    map[string]int
		wantVersions map[string][]int64
		wantHandled  int
	}{
		{
			name: "dedupe by id, redeliver after an error, one subject in order",
			events: []events.CloudEvent{
				{ID: "a1", Type: "order.placed", Subject: "o1", Version: 1},
				{ID: "a2", Type: "order.transitioned", Subject: "o1", Version: 2},
				{ID: "a2", Type: "order.transitioned", Subject: "o1", Version: 2}, // duplicate
				{ID: "a3", Type: "order.transitioned", Subject: "o1", Version: 3},
				{ID: "b1", Type: "order.placed", Subject: "o2", Version: 1},
			},
			failOnce:     "b1",
			wantCalls:    map[string]int{"a1": 1, "a2": 1, "a3": 1, "b1": 2},
			wantVersions: map[string][]int64{"o1": {1, 2, 3}, "o2": {1}},
			wantHandled:  4,
		},
		{
			name:      "stale versions dropped",
			dropStale: true,
			events: []events.CloudEvent{
				{ID: "c1", Type: "order.placed", Subject: "o3", Version: 1},
				{ID: "c3", Type: "order.transitioned", Subject: "o3", Version: 3},
				{ID: "c2", Type: "order.transitioned", Subject: "o3", Version: 2}, // older than 3: dropped
				{ID: "c4", Type: "order.transitioned", Subject: "o3", Version: 4},
			},
			wantCalls:    map[string]int{"c1": 1, "c3": 1, "c4": 1},
			wantVersions: map[string][]int64{"o3": {1, 3, 4}},
			wantHandled:  3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js, stream, prefix := jetStream(t)
			for _, e := range tc.events {
				publish(t, js, prefix, e)
			}
			s := &seen{calls: map[string]int{}, order: map[string][]int64{}}
			failed := false
			c, err := consumer.Start(t.Context(), js, consumer.Config{Stream: stream, Durable: "test", Concurrency: 3,
				DropStale: tc.dropStale, RetryDelay: 50 * time.Millisecond},
				func(_ context.Context, e events.CloudEvent) error {
					s.mu.Lock()
					defer s.mu.Unlock()
					s.calls[e.ID]++
					if e.ID == tc.failOnce && !failed {
						failed = true
						return errors.New("downstream hiccup")
					}
					s.all++
					s.order[e.Subject] = append(s.order[e.Subject], e.Version)
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for s.total() < tc.wantHandled && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			// Everything was acknowledged: nothing is pending on the consumer.
			cons, err := js.Consumer(t.Context(), stream, "test")
			if err != nil {
				t.Fatal(err)
			}
			for {
				info, err := cons.Info(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if info.NumAckPending == 0 && info.NumPending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not all acknowledged in 60s: %+v", info)
				}
				time.Sleep(20 * time.Millisecond)
			}
			stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Stop(stop); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if fmt.Sprint(s.calls) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("handler calls %v, want %v", s.calls, tc.wantCalls)
			}
			if fmt.Sprint(s.order) != fmt.Sprint(tc.wantVersions) {
				t.Errorf("versions handled %v, want %v", s.order, tc.wantVersions)
			}
		})
	}
}

func TestConsumerNeedsADurableName(t *testing.T) {
	t.Parallel()
	if _, err := consumer.Start(t.Context(), nil, consumer.Config{}, func(context.Context, events.CloudEvent) error { return nil }); err == nil {
		t.Fatal("started without a durable name")
	}
}
