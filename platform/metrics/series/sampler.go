package series

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStep is the sampling step.
const DefaultStep = 10 * time.Second

// Probe adds points a registry does not hold (e.g. the lowest stock
// levels, read from the database); it is called once per fine sample
// with a deadline of one step.
type Probe func(ctx context.Context) ([]Point, error)

// Options configure a Sampler.
type Options struct {
	// Gatherer is the registry sampled. Required.
	Gatherer prometheus.Gatherer
	// Step between samples; DefaultStep when 0.
	Step time.Duration
	// Probes add points to every fine sample; their points are kept in
	// the coarse tier from the sample that completes it.
	Probes []Probe
	// Logger receives failures to gather or probe; nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Sampler samples a registry into a Store. Sample is not for concurrent
// use (Run calls it from one goroutine); the Store is.
type Sampler struct {
	store  *Store
	o      Options
	want   map[string]bool
	fine   *snapshot // the previous fine snapshot
	coarse *snapshot // the previous coarse snapshot
	ticks  int
}

// NewSampler returns a sampler over o.Gatherer with an empty store.
func NewSampler(o Options) *Sampler {
	if o.Gatherer == nil {
		panic("series: Options.Gatherer is required")
	}
	if o.Step <= 0 {
		o.Step = DefaultStep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	want := map[string]bool{}
	for _, n := range MetricNames() {
		want[n] = true
	}
	return &Sampler{store: NewStore(o.Step, Panels), o: o, want: want}
}

// Store is where the samples go.
func (s *Sampler) Store() *Store { return s.store }

// Sample takes one sample now: a fine one every time, and a coarse one
// every CoarseRatio samples. Run calls it every step; tests call it with
// their own clock.
func (s *Sampler) Sample(ctx context.Context) error {
	mfs, gatherErr := s.o.Gatherer.Gather()
	// A registry answers what it could gather along with the error.
	now := s.o.Now()
	cur := takeSnapshot(now, mfs, s.want)
	points := derive(s.fine, cur)
	var errs []error
	if gatherErr != nil {
		errs = append(errs, fmt.Errorf("gather: %w", gatherErr))
	}
	var probed []Point
	for _, p := range s.o.Probes {
		pctx, cancel := context.WithTimeout(ctx, s.o.Step)
		ps, err := p(pctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("probe: %w", err))
			continue
		}
		probed = append(probed, ps...)
	}
	s.store.AppendFine(now, append(points, probed...))
	s.fine = cur
	if s.ticks%CoarseRatio == 0 {
		s.store.AppendCoarse(now, append(derive(s.coarse, cur), probed...))
		s.coarse = cur
	}
	s.ticks++
	return errors.Join(errs...)
}

// Run samples every step until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Step)
	defer t.Stop()
	for {
		if err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("dashboard sampler", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Query answers for the admin API: see Store.Query and ParseQuery.
func (s *Sampler) Query(span, step time.Duration) Window { return s.store.Query(span, step) }

// Ranges are the spans a query may ask for.
var Ranges = []string{"15m", "1h", "6h", "24h"}

// QueryError is a refused query parameter.
type QueryError struct {
	Param  string
	Reason string
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Reason }

// ParseQuery checks a query's range (one of Ranges; "1h" when empty) and
// step (the store's fine or coarse step, as Go duration text; when empty,
// the fine step if it covers the range, else the coarse one). A step that
// cannot cover the range with the samples kept is refused.
func (s *Store) ParseQuery(rangeText, stepText string) (span, step time.Duration, err error) {
	if rangeText == "" {
		rangeText = "1h"
	}
	okRange := false
	for _, r := range Ranges {
		if r == rangeText {
			okRange = true
		}
	}
	if !okRange {
		return 0, 0, &QueryError{"range", fmt.Sprintf("must be one of %v", Ranges)}
	}
	span, _ = time.ParseDuration(rangeText)
	fine, coarse := s.Steps()
	if stepText == "" {
		if span <= fine*FineSize {
			return span, fine, nil
		}
		return span, coarse, nil
	}
	step, perr := time.ParseDuration(stepText)
	if perr != nil || (step != fine && step != coarse) {
		return 0, 0, &QueryError{"step", fmt.Sprintf("must be %s or %s", fine, coarse)}
	}
	size := FineSize
	if step == coarse {
		size = CoarseSize
	}
	if span > step*time.Duration(size) {
		return 0, 0, &QueryError{"step", fmt.Sprintf("a step of %s keeps %s of samples; ask for a step of %s", step, step*time.Duration(size), coarse)}
	}
	return span, step, nil
}

// ParseQuery checks a query against the sampler's store (Store.ParseQuery).
func (s *Sampler) ParseQuery(rangeText, stepText string) (span, step time.Duration, err error) {
	return s.store.ParseQuery(rangeText, stepText)
}
