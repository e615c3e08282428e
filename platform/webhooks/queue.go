package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/outbox"
)

// Handle is the outbox relay's subscriber (relay.Subscribe("webhooks", "",
// svc.Handle)): it queues the event for every enabled endpoint that wants
// its type and identity, once per endpoint however often the relay hands
// it over. An error (the database) makes the relay hand it over again.
func (s *Service) Handle(ctx context.Context, e outbox.Event) error {
	var eps []Endpoint
	if err := s.st.DB(ctx).Where("enabled = ?", true).Find(&eps).Error; err != nil {
		return fmt.Errorf("webhooks: endpoints: %w", err)
	}
	var rows []Delivery
	var body []byte
	now := s.now()
	for _, ep := range eps {
		if !matches(ep, e.Topic, e.BizCode) {
			continue
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(events.FromOutbox(e, s.o.Source)); err != nil {
				return fmt.Errorf("webhooks: envelope of %s: %w", e.ID, err)
			}
		}
		rows = append(rows, Delivery{ID: "wd_" + newID()[:24], EndpointID: ep.ID, EventID: e.ID, EventType: e.Topic, Payload: string(body),
			State: StatePending, NextAt: now, CreatedAt: now, UpdatedAt: now})
	}
	if len(rows) == 0 {
		return nil
	}
	err := s.st.DB(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "endpoint_id"}, {Name: "event_id"}}, DoNothing: true}).
		Create(&rows).Error
	if err != nil {
		return fmt.Errorf("webhooks: queue %s: %w", e.ID, err)
	}
	s.poke()
	return nil
}

// matches reports whether an endpoint wants an event: its types hold the
// type or "*", and it names no identity or the event's identity or one of
// its ancestors ("virtual" matches "virtual.topup").
func matches(ep Endpoint, typ, bizCode string) bool {
	ok := false
	for _, t := range splitList(ep.EventTypes) {
		if t == "*" || t == typ {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	ids := splitList(ep.Identities)
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if bizCode == id || strings.HasPrefix(bizCode, id+".") {
			return true
		}
	}
	return false
}

// claim takes up to n due deliveries of one endpoint with a lease. A row
// another process claimed meanwhile is skipped: the conditional update
// finds its lease alive.
func (s *Service) claim(ctx context.Context, endpointID string, n int) ([]Delivery, error) {
	now := s.now()
	var due []Delivery
	err := s.st.DB(ctx).Where("endpoint_id = ? AND state = ? AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
		endpointID, StatePending, now, now).Order("next_at").Order("id").Limit(n).Find(&due).Error
	if err != nil {
		return nil, err
	}
	until := now.Add(s.lease())
	var out []Delivery
	for _, d := range due {
		res := s.st.DB(ctx).Model(&Delivery{}).Where("id = ? AND state = ? AND (lease_until IS NULL OR lease_until < ?)", d.ID, StatePending, now).
			Updates(map[string]any{"lease_owner": s.o.Owner, "lease_until": until})
		if res.Error != nil {
			return out, res.Error
		}
		if res.RowsAffected == 1 {
			d.LeaseOwner, d.LeaseUntil = s.o.Owner, &until
			out = append(out, d)
		}
	}
	return out, nil
}

// lease outlasts an attempt: its timeout and the time to record it.
func (s *Service) lease() time.Duration { return 2*s.o.Timeout + defaultLeaseExtension }

// dueEndpoints lists the enabled endpoints with due deliveries.
func (s *Service) dueEndpoints(ctx context.Context) ([]string, error) {
	now := s.now()
	var ids []string
	err := s.st.DB(ctx).Model(&Delivery{}).Distinct("endpoint_id").
		Where("state = ? AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)", StatePending, now, now).
		Where("endpoint_id IN (?)", s.st.DB(ctx).Model(&Endpoint{}).Select("id").Where("enabled = ?", true)).
		Pluck("endpoint_id", &ids).Error
	return ids, err
}

// outcome of one attempt.
type outcome struct {
	status   int
	latency  time.Duration
	response string
	err      string
}

func (o outcome) ok() bool { return o.err == "" && o.status >= 200 && o.status < 300 }

// attempt sends one delivery to its endpoint.
func (s *Service) attempt(ctx context.Context, ep Endpoint, d Delivery) outcome {
	now := s.o.Clock()
	secrets := []string{ep.Secret}
	if ep.PreviousSecret != "" && ep.PreviousUntil != nil && ep.PreviousUntil.After(now) {
		secrets = append(secrets, ep.PreviousSecret)
	}
	sig, err := Sign(d.EventID, now, []byte(d.Payload), secrets...)
	if err != nil {
		return outcome{err: "signing: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader([]byte(d.Payload)))
	if err != nil {
		return outcome{err: "request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "tmf-webhooks/1")
	req.Header.Set(HeaderID, d.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, sig)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{latency: time.Since(start), err: clip(describeErr(err), 512)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	o := outcome{status: resp.StatusCode, latency: time.Since(start), response: clip(string(excerpt), ResponseExcerpt)}
	if !o.ok() {
		o.err = fmt.Sprintf("answered %d", resp.StatusCode)
	}
	return o
}

func describeErr(err error) string {
	if errors.Is(err, ErrAddressRefused) {
		return "address refused by the SSRF guard: " + err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out: " + err.Error()
	}
	return err.Error()
}

// clip makes text storable: valid UTF-8 without NUL, at most n bytes.
func clip(v string, n int) string {
	v = strings.ToValidUTF8(strings.ReplaceAll(v, "\x00", ""), "\uFFFD")
	if len(v) <= n {
		return v
	}
	v = v[:n]
	for !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v
}

// backoff is the wait before retry n (1-based) with ±20% jitter; false when
// the schedule has run out.
func (s *Service) backoff(n int) (time.Duration, bool) {
	if n < 1 || n > len(s.o.Schedule) {
		return 0, false
	}
	base := s.o.Schedule[n-1]
	return time.Duration(float64(base) * (0.8 + 0.4*rand.Float64())), true
}

// record writes an attempt and moves its delivery and endpoint, if this
// process still holds the lease.
func (s *Service) record(ctx context.Context, ep Endpoint, d Delivery, o outcome) error {
	manual := d.Manual
	now := s.now()
	var disabled bool
	err := s.st.Tx(ctx, func(tx *gormDB) error {
		a := Attempt{DeliveryID: d.ID, EndpointID: ep.ID, EventID: d.EventID, At: now, StatusCode: o.status, LatencyMS: o.latency.Milliseconds(),
			Response: o.response, Error: o.err, Manual: manual}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		attempts := d.Attempts + 1
		upd := map[string]any{"attempts": attempts, "manual": false, "last_status": o.status, "last_error": o.err, "lease_owner": "", "lease_until": nil,
			"updated_at": now}
		switch {
		case o.ok():
			upd["state"] = StateSucceeded
		default:
			// Retry number = automatic attempts made so far.
			if wait, ok := s.backoff(attempts); ok {
				upd["state"], upd["next_at"] = StatePending, now.Add(wait)
			} else {
				upd["state"] = StateFailed
			}
		}
		res := tx.Model(&Delivery{}).Where("id = ? AND lease_owner = ?", d.ID, s.o.Owner).Updates(upd)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // the lease ran out and another worker took it: its attempt counts
		}
		if o.ok() {
			return tx.Model(&Endpoint{}).Where("id = ? AND failing_since IS NOT NULL", ep.ID).Update("failing_since", nil).Error
		}
		var cur Endpoint
		if err := tx.Where("id = ?", ep.ID).Limit(1).Find(&cur).Error; err != nil || cur.ID == "" {
			return err
		}
		if cur.FailingSince == nil {
			return tx.Model(&Endpoint{}).Where("id = ?", ep.ID).Update("failing_since", now).Error
		}
		if cur.Enabled && now.Sub(*cur.FailingSince) >= s.o.DisableAfter {
			reason := fmt.Sprintf("every attempt failed since %s (%s or longer); last: %s", cur.FailingSince.UTC().Format(time.RFC3339), s.o.DisableAfter, o.err)
			if err := tx.Model(&Endpoint{}).Where("id = ?", ep.ID).Updates(map[string]any{"enabled": false, "disabled_reason": clip(reason, 512),
				"updated_at": now}).Error; err != nil {
				return err
			}
			after := cur
			after.Enabled, after.DisabledReason = false, clip(reason, 512)
			disabled = true
			return s.st.AuditStep(auditEntry("disable", s.view(cur), s.view(after)))(ctx, tx)
		}
		return nil
	})
	if err == nil && disabled {
		s.log.Warn("webhook endpoint disabled: it failed too long", "endpoint", ep.ID, "url", ep.URL, "after", s.o.DisableAfter)
	}
	return err
}
