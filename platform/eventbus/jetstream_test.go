package eventbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/outbox"
)

// natsURL is the NATS server of the tests; absent, they skip.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TMF_TEST_NATS")
	if u == "" {
		t.Skip("TMF_TEST_NATS is not set (e.g. nats://127.0.0.1:4222): skipping the JetStream test")
	}
	return u
}

func unique() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestPublisherPublishesCloudEventsOnceEach(t *testing.T) {
	t.Parallel()
	url := natsURL(t)
	id := unique()
	stream := eventbus.Stream{Name: "TEST_EVENTS_" + id, SubjectPrefix: "test" + id + ".events", MaxAge: time.Hour}
	pub, err := eventbus.Connect(eventbus.Options{URL: url, Stream: stream, Window: 3, Source: "urn:tmf:test"})
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

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var batch []outbox.Event
	for i := range 10 {
		biz := "retail"
		if i == 9 {
			biz = ""
		}
		batch = append(batch, outbox.Event{ID: fmt.Sprintf("%s-%02d", id, i), Topic: "order.placed", AggregateID: fmt.Sprintf("o%d", i%3),
			BizCode: biz, Version: int64(i + 1), Payload: json.RawMessage(`{"n":1}`), CreatedAt: now})
	}
	for round := range 2 { // the second round is a relay publishing again after a crash
		acked, err := pub.Publish(ctx, batch)
		if err != nil || len(acked) != len(batch) {
			t.Fatalf("round %d: acked %d of %d: %v", round, len(acked), len(batch), err)
		}
	}
	s, err := js.Stream(ctx, stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 {
		t.Fatalf("the stream holds %d messages, want 10 (duplicates dropped by Nats-Msg-Id)", info.State.Msgs)
	}
	if got := info.Config.Subjects; len(got) != 1 || got[0] != stream.SubjectPrefix+".>" {
		t.Fatalf("stream subjects %v", got)
	}
	tests := []struct {
		seq     uint64
		subject string
		id      string
	}{
		{1, stream.SubjectPrefix + ".order.placed.retail", id + "-00"},
		{10, stream.SubjectPrefix + ".order.placed._", id + "-09"},
	}
	for _, tc := range tests {
		m, err := s.GetMsg(ctx, tc.seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tc.subject || m.Header.Get("Nats-Msg-Id") != tc.id || m.Header.Get("Content-Type") != eventbus.ContentType {
			t.Fatalf("message %d: subject %s, headers %v", tc.seq, m.Subject, m.Header)
		}
		var ce events.CloudEvent
		if err := json.Unmarshal(m.Data, &ce); err != nil || ce.Validate() != nil || ce.ID != tc.id || ce.Source != "urn:tmf:test" {
			t.Fatalf("message %d is not the event's CloudEvent: %s (%v)", tc.seq, m.Data, err)
		}
	}
}

func TestPublisherFailsWhileNATSIsUnreachable(t *testing.T) {
	t.Parallel()
	pub, err := eventbus.Connect(eventbus.Options{URL: "nats://127.0.0.1:1", Stream: eventbus.Stream{Name: "UNREACHABLE_" + unique()}})
	if err != nil {
		t.Fatalf("connect must not fail while NATS is down (it retries): %v", err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	acked, err := pub.Publish(ctx, []outbox.Event{{ID: "x", Topic: "order.placed"}})
	if err == nil || len(acked) != 0 {
		t.Fatalf("publish while NATS is down: acked %v, err %v", acked, err)
	}
}
