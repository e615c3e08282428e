package consumer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/consumer"
)

// A downstream service (here: a search index of orders) receives every
// order event of the retail identity. Its handler must be idempotent:
// delivery is at least once. It is compiled with the tests, not run (it
// needs a NATS server and a tmfd started with --events).
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	c, err := consumer.Start(ctx, js, consumer.Config{
		Stream:         "TMF_EVENTS",
		Durable:        "search-indexer",
		FilterSubjects: []string{"tmf.events.order.*.retail"},
		Concurrency:    8,
		DropStale:      true, // an older snapshot of an order never overwrites a newer one
	}, func(ctx context.Context, e events.CloudEvent) error {
		fmt.Printf("order %s is at version %d after %s\n", e.Subject, e.Version, e.Type)
		return nil // an error here redelivers the event after Config.RetryDelay
	})
	if err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(shutdown); err != nil {
		log.Print(err)
	}
}
