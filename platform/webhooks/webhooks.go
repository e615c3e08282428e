// Package webhooks delivers the platform's events to HTTP receivers that
// operators register, signed per the Standard Webhooks specification
// (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256 of
// "id.timestamp.body"), the body being the event's CloudEvents JSON.
//
// The outbox relay hands every committed event to Service.Handle, which
// writes one delivery row per matching endpoint (unique by endpoint and
// event, so the relay's redeliveries add nothing). Workers in any number of
// processes on the same database claim due deliveries with a lease, attempt
// them with a per-endpoint bound on concurrency and a timeout, and retry a
// failure on a widening schedule with jitter (Schedule) until it runs out;
// then the delivery is failed. An endpoint that fails without a success for
// DisableAfter is disabled, with an audit entry. Every attempt is kept in
// the delivery log; an operator may redeliver any delivery.
//
// Delivery is at least once and not ordered: a receiver deduplicates by
// webhook-id (the event id) and drops an update older than the one it
// holds (the envelope's tmfversion). Verify is the receiver's check.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/store"
)

type gormDB = gorm.DB

// DefaultSchedule is the wait before each retry of a failed attempt: about
// 27.6 hours in all, then the delivery is failed (jitter of ±20% apart).
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Defaults of Options.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultConcurrency    = 4
	DefaultWorkers        = 16
	DefaultDisableAfter   = 5 * 24 * time.Hour
	DefaultRotationGrace  = 24 * time.Hour
	DefaultMaxEndpoints   = 100
	DefaultPoll           = time.Second
	ResponseExcerpt       = 1024
	MaxEventTypes         = 64
	MaxIdentities         = 64
	MaxDescription        = 256
	systemActor           = "system:webhooks"
	auditTargetEndpoint   = "webhook_endpoint"
	auditActionWrite      = "admin.webhooks.write"
	defaultLeaseExtension = 30 * time.Second
)

// KnownTypes lists the event types an endpoint may subscribe to.
type KnownTypes func() []string

// DefaultKnownTypes are the event types of the catalogue (platform/events)
// that the outbox relays: every type but order.changed, which only the
// change-data-capture feed publishes.
func DefaultKnownTypes() []string {
	var out []string
	for _, t := range events.Types() {
		if t.Name != events.OrderChanged {
			out = append(out, t.Name)
		}
	}
	return out
}

// Options configure a Service; zero values take the defaults.
type Options struct {
	// Guard decides which addresses endpoints may reach.
	Guard Guard
	// KnownTypes validates an endpoint's event types; nil: DefaultKnownTypes.
	KnownTypes KnownTypes
	// Identities lists the configured business identities an endpoint may
	// name; nil accepts any well-formed code.
	Identities func() []string
	// Schedule is the wait before each retry; nil: DefaultSchedule. A
	// delivery is attempted len(Schedule)+1 times at most, then failed.
	Schedule []time.Duration
	// Timeout of one attempt (connect to last byte read); default 10s.
	Timeout time.Duration
	// Concurrency is the most attempts in flight to one endpoint from one
	// process; default 4.
	Concurrency int
	// Workers bounds the attempts in flight from one process; default 16.
	Workers int
	// DisableAfter: an endpoint whose attempts all failed for this long is
	// disabled (with an audit entry); default 5 days.
	DisableAfter time.Duration
	// RotationGrace is how long the previous secret keeps signing after a
	// rotation; default 24h.
	RotationGrace time.Duration
	// MaxEndpoints that may be registered; default 100.
	MaxEndpoints int
	// Poll is how often workers look for due deliveries; default 1s.
	Poll time.Duration
	// Source is the CloudEvents source; "" takes events.DefaultSource.
	Source string
	// Owner names this process in leases; default a random id.
	Owner  string
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Clock replaces time.Now (tests).
	Clock func() time.Time
}

// Service registers endpoints and delivers to them. It is safe for
// concurrent use.
type Service struct {
	st      *store.Store
	o       Options
	log     *slog.Logger
	client  *http.Client
	metrics *metrics
	wake    chan struct{}

	mu       sync.Mutex
	inFlight map[string]int // endpoint → attempts in flight from this process
}

// New returns a service over the store. Call Migrate before use.
func New(st *store.Store, o Options) *Service {
	if o.KnownTypes == nil {
		o.KnownTypes = DefaultKnownTypes
	}
	if o.Schedule == nil {
		o.Schedule = DefaultSchedule
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = DefaultDisableAfter
	}
	if o.RotationGrace <= 0 {
		o.RotationGrace = DefaultRotationGrace
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Owner == "" {
		o.Owner = "w-" + newID()[:16]
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Service{st: st, o: o, log: o.Logger, client: o.Guard.Client(o.Timeout), wake: make(chan struct{}, 1),
		inFlight: map[string]int{}}
	s.metrics = newMetrics(s, o.Registerer)
	return s
}

// Migrate creates the package's tables.
func (s *Service) Migrate(ctx context.Context) error { return s.st.MigrateModels(ctx, Models()...) }

func (s *Service) now() time.Time { return s.o.Clock().UTC().Truncate(store.Precision) }

// Field errors of endpoint writes.

// FieldError is a refused endpoint field: the API answers it 422 naming
// Field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "webhooks: " + e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Errors of the service; match with errors.Is.
var (
	ErrNotFound         = errors.New("webhooks: not found")
	ErrLimit            = errors.New("webhooks: too many endpoints")
	ErrNotRedeliverable = errors.New("webhooks: the delivery's endpoint is disabled")
)

// EndpointSpec is what an operator sets on an endpoint.
type EndpointSpec struct {
	URL         string
	Description string
	EventTypes  []string
	Identities  []string
	Enabled     bool
	// Secret, when set on creation, is used instead of a generated one; it
	// must pass CheckSecret.
	Secret string
}

// EndpointView is an endpoint as the API shows it: never its secret.
type EndpointView struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Description    string     `json:"description,omitempty"`
	EventTypes     []string   `json:"eventTypes"`
	Identities     []string   `json:"identities"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabledReason,omitempty"`
	FailingSince   *time.Time `json:"failingSince,omitempty"`
	// PreviousSecretUntil ends the grace period of the secret a rotation
	// replaced; absent when none is in grace.
	PreviousSecretUntil *time.Time `json:"previousSecretUntil,omitempty"`
	CreatedAt           time.Time  `json:"createdAt"`
	UpdatedAt           time.Time  `json:"updatedAt"`
}

func (s *Service) view(e Endpoint) EndpointView {
	v := EndpointView{ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: splitList(e.EventTypes),
		Identities: splitList(e.Identities), Enabled: e.Enabled, DisabledReason: e.DisabledReason,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
	if e.FailingSince != nil {
		t := e.FailingSince.UTC()
		v.FailingSince = &t
	}
	if e.PreviousUntil != nil && e.PreviousUntil.After(s.now()) {
		t := e.PreviousUntil.UTC()
		v.PreviousSecretUntil = &t
	}
	return v
}

func splitList(v string) []string {
	out := []string{}
	for p := range strings.SplitSeq(v, ",") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// check validates a spec; it returns a *FieldError for a refused field.
func (s *Service) check(ctx context.Context, sp *EndpointSpec) error {
	if err := s.o.Guard.CheckURL(ctx, sp.URL); err != nil {
		return fieldErr("url", "%v", err)
	}
	if len(sp.Description) > MaxDescription || strings.ContainsFunc(sp.Description, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fieldErr("description", "at most %d bytes without control characters", MaxDescription)
	}
	if len(sp.EventTypes) == 0 {
		return fieldErr("eventTypes", "name at least one event type, or \"*\" for all")
	}
	if len(sp.EventTypes) > MaxEventTypes {
		return fieldErr("eventTypes", "at most %d event types", MaxEventTypes)
	}
	known := s.o.KnownTypes()
	seen := map[string]bool{}
	for i, t := range sp.EventTypes {
		if t != "*" && !slices.Contains(known, t) {
			return fieldErr(fmt.Sprintf("eventTypes[%d]", i), "%q is not a known event type (known: %s, or *)", t, strings.Join(known, ", "))
		}
		if seen[t] {
			return fieldErr(fmt.Sprintf("eventTypes[%d]", i), "%q is listed twice", t)
		}
		seen[t] = true
	}
	if len(sp.Identities) > MaxIdentities {
		return fieldErr("identities", "at most %d identities", MaxIdentities)
	}
	var configured []string
	if s.o.Identities != nil {
		configured = s.o.Identities()
	}
	for i, id := range sp.Identities {
		if !identityPattern(id) {
			return fieldErr(fmt.Sprintf("identities[%d]", i), "%q is not a business code", id)
		}
		if s.o.Identities != nil && !slices.Contains(configured, id) {
			return fieldErr(fmt.Sprintf("identities[%d]", i), "%q is not a configured business identity", id)
		}
	}
	if sp.Secret != "" {
		if err := CheckSecret(sp.Secret); err != nil {
			return fieldErr("secret", "%v", err)
		}
	}
	return nil
}

func identityPattern(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Create registers an endpoint and returns it with its secret, which is
// never shown again. A refused field is a *FieldError; ErrLimit when
// MaxEndpoints are registered.
func (s *Service) Create(ctx context.Context, sp EndpointSpec) (EndpointView, string, error) {
	if err := s.check(ctx, &sp); err != nil {
		return EndpointView{}, "", err
	}
	secret := sp.Secret
	if secret == "" {
		var err error
		if secret, err = NewSecret(); err != nil {
			return EndpointView{}, "", err
		}
	}
	now := s.now()
	e := Endpoint{ID: "we_" + newID()[:24], URL: sp.URL, Description: sp.Description, EventTypes: strings.Join(sp.EventTypes, ","),
		Identities: strings.Join(sp.Identities, ","), Enabled: sp.Enabled, Secret: secret, CreatedAt: now, UpdatedAt: now}
	err := s.st.Tx(ctx, func(tx *gormDB) error {
		var n int64
		if err := tx.Model(&Endpoint{}).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(s.o.MaxEndpoints) {
			return fmt.Errorf("%w: %d registered, the limit", ErrLimit, n)
		}
		return tx.Create(&e).Error
	})
	if err != nil {
		return EndpointView{}, "", err
	}
	return s.view(e), secret, nil
}

// Get returns an endpoint; ErrNotFound when there is none.
func (s *Service) Get(ctx context.Context, id string) (EndpointView, error) {
	e, err := s.endpoint(ctx, s.st.DB(ctx), id)
	if err != nil {
		return EndpointView{}, err
	}
	return s.view(e), nil
}

func (s *Service) endpoint(ctx context.Context, db *gormDB, id string) (Endpoint, error) {
	var out []Endpoint
	if err := db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&out).Error; err != nil {
		return Endpoint{}, err
	}
	if len(out) == 0 {
		return Endpoint{}, fmt.Errorf("%w: endpoint %s", ErrNotFound, id)
	}
	return out[0], nil
}

// List returns every endpoint, oldest first (at most MaxEndpoints exist).
func (s *Service) List(ctx context.Context) ([]EndpointView, error) {
	var rows []Endpoint
	if err := s.st.DB(ctx).Order("created_at").Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]EndpointView, 0, len(rows))
	for _, e := range rows {
		out = append(out, s.view(e))
	}
	return out, nil
}

// Update replaces what an operator sets on an endpoint (not its secret:
// see RotateSecret) and returns it before and after. Enabling an endpoint
// clears the platform's reason for disabling it and its failing streak.
func (s *Service) Update(ctx context.Context, id string, sp EndpointSpec) (before, after EndpointView, err error) {
	if sp.Secret != "" {
		return before, after, fieldErr("secret", "a secret is changed by POST …/rotate-secret, not by an update")
	}
	if err := s.check(ctx, &sp); err != nil {
		return before, after, err
	}
	var b, a Endpoint
	err = s.st.Tx(ctx, func(tx *gormDB) error {
		e, err := s.endpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		b, a = e, e
		a.URL, a.Description, a.EventTypes, a.Identities = sp.URL, sp.Description, strings.Join(sp.EventTypes, ","), strings.Join(sp.Identities, ",")
		if sp.Enabled && !e.Enabled {
			a.DisabledReason, a.FailingSince = "", nil
		}
		a.Enabled = sp.Enabled
		a.UpdatedAt = s.now()
		return tx.Save(&a).Error
	})
	if err != nil {
		return before, after, err
	}
	s.poke()
	return s.view(b), s.view(a), nil
}

// Delete removes an endpoint, its deliveries and its attempts; ErrNotFound
// when there is none.
func (s *Service) Delete(ctx context.Context, id string) (EndpointView, error) {
	var b Endpoint
	err := s.st.Tx(ctx, func(tx *gormDB) error {
		e, err := s.endpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		b = e
		for _, m := range []any{&Attempt{}, &Delivery{}} {
			if err := tx.Where("endpoint_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Delete(&Endpoint{}, "id = ?", id).Error
	})
	if err != nil {
		return EndpointView{}, err
	}
	return s.view(b), nil
}

// RotateSecret gives an endpoint a new secret and returns it (shown once);
// the old one keeps signing, beside the new one, until the grace period
// ends (the time returned).
func (s *Service) RotateSecret(ctx context.Context, id string) (string, time.Time, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	until := s.now().Add(s.o.RotationGrace)
	err = s.st.Tx(ctx, func(tx *gormDB) error {
		e, err := s.endpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		return tx.Model(&Endpoint{}).Where("id = ?", e.ID).Updates(map[string]any{"secret": secret, "previous_secret": e.Secret,
			"previous_until": until, "updated_at": s.now()}).Error
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, until, nil
}

// poke wakes the workers.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
