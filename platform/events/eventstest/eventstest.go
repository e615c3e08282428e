// Package eventstest checks, in tests, that the events a test wrote to the
// outbox are the catalogue's: a known type, a payload its schema accepts,
// and, for an order's events, the order's identity and version.
//
// A test binary opts in once, in any of its _test.go files:
//
//	func init() { eventstest.Register() }
//
// and every store storetest.Open returns is then checked when its test
// ends. Tests that write made-up events on purpose (the store's and the
// relay's own tests) do not register.
package eventstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// PerType is the most rows of one type checked per store: enough to see
// every shape a test produces, few enough that a load test's thousands of
// orders cost little.
const PerType = 100

var once sync.Once

// Register adds Check to storetest.OnOpen, once.
func Register() {
	once.Do(func() { storetest.OnOpen = append(storetest.OnOpen, Check) })
}

// Check verifies the store's outbox when the test ends (see Verify); a
// store the test closed itself is not checked.
func Check(t testing.TB, s *store.Store) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.SQL().PingContext(ctx); err != nil {
			return // closed by the test
		}
		if err := Verify(ctx, s); err != nil {
			t.Errorf("eventstest: %v", err)
		}
	})
}

// Verify checks every type in the store's outbox against the catalogue
// and up to PerType events of each (the oldest) against their schema and
// the envelope's rules. It names at most ten problems.
func Verify(ctx context.Context, s *store.Store) error {
	db := s.DB(ctx)
	var topics []struct {
		Topic string
		N     int64
	}
	if err := db.Model(&store.OutboxEvent{}).Select("topic, COUNT(*) AS n").Group("topic").Order("topic").Scan(&topics).Error; err != nil {
		return fmt.Errorf("read outbox topics: %w", err)
	}
	var errs []error
	for _, tp := range topics {
		if _, ok := events.Lookup(tp.Topic); !ok {
			errs = append(errs, fmt.Errorf("%d events of type %q, which the catalogue does not declare", tp.N, tp.Topic))
			continue
		}
		var rows []store.OutboxEvent
		if err := db.Where("topic = ?", tp.Topic).Order("created_at").Order("id").Limit(PerType).Find(&rows).Error; err != nil {
			return fmt.Errorf("read outbox %s: %w", tp.Topic, err)
		}
		for _, r := range rows {
			ce := events.FromOutbox(outbox.Event{ID: r.ID, Topic: r.Topic, AggregateID: r.AggregateID, BizCode: r.BizCode,
				Version: r.Version, Payload: json.RawMessage(r.Payload), CreatedAt: r.CreatedAt, Traceparent: r.Traceparent, Tracestate: r.Tracestate}, "")
			if err := events.ValidateEvent(ce); err != nil {
				errs = append(errs, fmt.Errorf("event %s: %w\n\tpayload %s", r.ID, err, clip(r.Payload)))
			}
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
