package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/store"
)

// Run delivers due deliveries until ctx ends: it polls every Options.Poll
// (and at once when an event is queued in this process), claims for each
// endpoint at most its free share of Options.Concurrency, and attempts each
// claim in its own goroutine, at most Options.Workers at once. A slow or
// dead endpoint holds only its own slots. Run returns when ctx is done and
// the attempts in flight have been recorded.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.o.Workers)
	done := make(chan struct{}, s.o.Workers)
	t := time.NewTimer(0)
	defer t.Stop()
	idle := s.o.Poll
	var signal <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
			idle = s.o.Poll
		case <-signal:
			idle = s.o.Poll
		case <-done:
		}
		// Taken before looking, so that a delivery committed meanwhile wakes the next wait.
		signal = s.st.WorkSignal(store.WorkWebhooks)
		claimed, err := s.pass(ctx, &wg, slots, done)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("webhooks: delivery pass", "error", err)
		}
		t.Stop() // Go 1.23+: no stale tick after Stop or Reset
		if claimed > 0 || err != nil {
			idle = s.o.Poll
			t.Reset(s.o.Poll)
			continue
		}
		// Nothing due: wait for a committed delivery (any server's on
		// PostgreSQL, this one's elsewhere) or for a wait that doubles up
		// to store.DuePoll (retries come due by the clock).
		t.Reset(idle)
		idle = min(2*idle, max(s.o.Poll, store.DuePoll))
	}
}

// pass claims and starts what the free slots allow.
func (s *Service) pass(ctx context.Context, wg *sync.WaitGroup, slots chan struct{}, done chan struct{}) (started int, err error) {
	ids, err := s.dueEndpoints(ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		free := min(s.o.Concurrency-s.flying(id), cap(slots)-len(slots))
		if free <= 0 {
			continue
		}
		ep, err := s.endpoint(ctx, s.st.DB(ctx), id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return started, err
		}
		claimed, err := s.claim(ctx, id, free)
		if err != nil {
			return started, err
		}
		started += len(claimed)
		for _, d := range claimed {
			slots <- struct{}{}
			s.fly(id, 1)
			wg.Go(func() {
				defer func() {
					s.fly(id, -1)
					<-slots
					select {
					case done <- struct{}{}:
					default:
					}
				}()
				o := s.attempt(ctx, ep, d)
				s.metrics.observe(o, d.Attempts+1, s)
				// Recorded even when ctx ended meanwhile: the attempt was made.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if err := s.record(rctx, ep, d, o); err != nil {
					s.log.Warn("webhooks: record attempt; the lease will run out and the delivery be attempted again",
						"delivery", d.ID, "endpoint", id, "error", err)
				}
			})
		}
	}
	return started, nil
}

func (s *Service) flying(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[id]
}

func (s *Service) fly(id string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight[id] += d
	if s.inFlight[id] <= 0 {
		delete(s.inFlight, id)
	}
}

// Redeliver asks for one more attempt of a delivery, whatever its state,
// as soon as a worker is free; ErrNotFound when the endpoint has no such
// delivery, ErrNotRedeliverable when the endpoint is disabled.
func (s *Service) Redeliver(ctx context.Context, endpointID, deliveryID string) (DeliveryView, error) {
	var out Delivery
	err := s.st.Tx(ctx, func(tx *gormDB) error {
		ep, err := s.endpoint(ctx, tx, endpointID)
		if err != nil {
			return err
		}
		if !ep.Enabled {
			return fmt.Errorf("%w: enable endpoint %s first", ErrNotRedeliverable, endpointID)
		}
		var ds []Delivery
		if err := tx.Where("id = ? AND endpoint_id = ?", deliveryID, endpointID).Limit(1).Find(&ds).Error; err != nil {
			return err
		}
		if len(ds) == 0 {
			return fmt.Errorf("%w: delivery %s of endpoint %s", ErrNotFound, deliveryID, endpointID)
		}
		now := s.now()
		out = ds[0]
		out.State, out.NextAt, out.Manual, out.UpdatedAt = StatePending, now, true, now
		return tx.Model(&Delivery{}).Where("id = ?", deliveryID).Updates(map[string]any{"state": StatePending, "next_at": now,
			"manual": true, "updated_at": now}).Error
	})
	if err != nil {
		return DeliveryView{}, err
	}
	s.poke()
	return deliveryView(out), nil
}

// DeliveryView is a delivery as the API shows it.
type DeliveryView struct {
	ID         string     `json:"id"`
	EventID    string     `json:"eventId"`
	EventType  string     `json:"eventType"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	NextAt     *time.Time `json:"nextAttemptAt,omitempty"`
	LastStatus int        `json:"lastStatus,omitempty"`
	LastError  string     `json:"lastError,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

func deliveryView(d Delivery) DeliveryView {
	v := DeliveryView{ID: d.ID, EventID: d.EventID, EventType: d.EventType, State: d.State, Attempts: d.Attempts, LastStatus: d.LastStatus,
		LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	if d.State == StatePending {
		t := d.NextAt.UTC()
		v.NextAt = &t
	}
	return v
}

// AttemptView is one entry of the delivery log.
type AttemptView struct {
	ID         int64     `json:"id"`
	DeliveryID string    `json:"deliveryId"`
	EventID    string    `json:"eventId"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode"`
	LatencyMS  int64     `json:"latencyMs"`
	Response   string    `json:"response"`
	Error      string    `json:"error,omitempty"`
	Manual     bool      `json:"manual"`
}

// Page asks for one page of a log, newest first.
type Page struct {
	// Cursor continues after the last item of the previous page ("" starts
	// at the newest); ErrCursor when it is not one this package gave out.
	Cursor string
	Limit  int
}

// ErrCursor: a page cursor this package did not give out.
var ErrCursor = errors.New("webhooks: invalid cursor")

// Deliveries lists an endpoint's deliveries, newest first, optionally of
// one state; the cursor of the next page is "" on the last.
func (s *Service) Deliveries(ctx context.Context, endpointID, state string, p Page) ([]DeliveryView, string, error) {
	if _, err := s.endpoint(ctx, s.st.DB(ctx), endpointID); err != nil {
		return nil, "", err
	}
	q := s.st.DB(ctx).Where("endpoint_id = ?", endpointID)
	if state != "" {
		q = q.Where("state = ?", state)
	}
	if p.Cursor != "" {
		at, id, ok := strings.Cut(p.Cursor, "_wd_")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, "", ErrCursor
		}
		t := time.UnixMicro(n).UTC()
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", t, t, "wd_"+id)
	}
	var rows []Delivery
	if err := q.Order("created_at DESC").Order("id DESC").Limit(p.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		last := rows[len(rows)-1]
		next = strconv.FormatInt(last.CreatedAt.UnixMicro(), 10) + "_" + last.ID
	}
	out := make([]DeliveryView, 0, len(rows))
	for _, d := range rows {
		out = append(out, deliveryView(d))
	}
	return out, next, nil
}

// Attempts lists an endpoint's delivery log, newest first, optionally of
// one delivery; the cursor of the next page is "" on the last.
func (s *Service) Attempts(ctx context.Context, endpointID, deliveryID string, p Page) ([]AttemptView, string, error) {
	if _, err := s.endpoint(ctx, s.st.DB(ctx), endpointID); err != nil {
		return nil, "", err
	}
	q := s.st.DB(ctx).Where("endpoint_id = ?", endpointID)
	if deliveryID != "" {
		q = q.Where("delivery_id = ?", deliveryID)
	}
	if p.Cursor != "" {
		n, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", ErrCursor
		}
		q = q.Where("id < ?", n)
	}
	var rows []Attempt
	if err := q.Order("id DESC").Limit(p.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		next = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	out := make([]AttemptView, 0, len(rows))
	for _, a := range rows {
		out = append(out, AttemptView{ID: a.ID, DeliveryID: a.DeliveryID, EventID: a.EventID, At: a.At.UTC(), StatusCode: a.StatusCode,
			LatencyMS: a.LatencyMS, Response: a.Response, Error: a.Error, Manual: a.Manual})
	}
	return out, next, nil
}

// metrics of deliveries.
type metrics struct {
	outcomes *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(s *Service, reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: succeeded, retry (failed, another attempt scheduled), failed (the schedule ran out)."},
			[]string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tmf_webhook_attempt_seconds",
			Help: "Duration of webhook delivery attempts.", Buckets: prometheus.DefBuckets}),
	}
	if reg == nil {
		return m
	}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_webhook_deliveries_pending",
		Help: "Webhook deliveries waiting for an attempt (all endpoints, disabled ones included)."}, func() float64 {
		n, _, _ := s.Backlog(context.Background())
		return float64(n)
	})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_webhook_oldest_pending_seconds",
		Help: "Age of the oldest pending webhook delivery; 0 when none."}, func() float64 {
		_, age, _ := s.Backlog(context.Background())
		return age.Seconds()
	})
	reg.MustRegister(m.outcomes, m.latency, pending, oldest)
	return m
}

func (m *metrics) observe(o outcome, attempt int, s *Service) {
	m.latency.Observe(o.latency.Seconds())
	switch {
	case o.ok():
		m.outcomes.WithLabelValues(StateSucceeded).Inc()
	case attempt <= len(s.o.Schedule):
		m.outcomes.WithLabelValues("retry").Inc()
	default:
		m.outcomes.WithLabelValues(StateFailed).Inc()
	}
}

// Backlog reports the pending deliveries and the age of the oldest.
func (s *Service) Backlog(ctx context.Context) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int64
	db := s.st.DB(ctx)
	if err := db.Model(&Delivery{}).Where("state = ?", StatePending).Count(&n).Error; err != nil || n == 0 {
		return n, 0, err
	}
	var oldest []Delivery
	if err := db.Where("state = ?", StatePending).Order("created_at").Limit(1).Find(&oldest).Error; err != nil || len(oldest) == 0 {
		return n, 0, err
	}
	return n, max(0, s.o.Clock().Sub(oldest[0].CreatedAt)), nil
}
