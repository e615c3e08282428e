package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ClaimIdempotency claims (principal, key) for a request whose canonical
// hash is requestHash. It returns (the new running record, true) when the
// caller owns the key now, or (the existing record, false) when another
// request holds or has answered it; the caller then compares hashes, waits or
// replays the stored answer. A running record not updated for staleAfter
// (its owner died) is taken over and returns true; staleAfter <= 0 never
// takes over. Both the claim (an insert that loses on the primary key) and
// the take-over (a compare-and-set on state and updated_at) are atomic: of
// any number of concurrent claimers exactly one wins.
func (s *Store) ClaimIdempotency(ctx context.Context, principal, key, requestHash string, staleAfter time.Duration) (IdempotencyRecord, bool, error) {
	if err := errors.Join(checkKey("principal", principal, maxPrincpl), checkKey("idempotency key", key, maxIdemKey)); err != nil {
		return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key: %w", err)
	}
	fail := func(err error) (IdempotencyRecord, bool, error) {
		return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key %s of %s: %w", key, principal, err)
	}
	db := s.db.WithContext(ctx)
	// A record can vanish (released) or change (taken over) between our
	// statements; look again a few times before giving up.
	for range 5 {
		now := s.now()
		rec := IdempotencyRecord{Principal: principal, Key: key, RequestHash: requestHash, State: IdempotencyRunning,
			CreatedAt: now, UpdatedAt: now}
		err := db.Create(&rec).Error
		if err == nil {
			return rec, true, nil
		}
		if !isDuplicateKey(err) {
			return fail(err)
		}
		var cur IdempotencyRecord
		err = db.Where("principal = ? AND idem_key = ?", principal, key).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		cur.CreatedAt, cur.UpdatedAt = stamp(cur.CreatedAt), stamp(cur.UpdatedAt)
		if cur.State != IdempotencyRunning || staleAfter <= 0 || now.Sub(cur.UpdatedAt) < staleAfter {
			return cur, false, nil
		}
		res := db.Exec("UPDATE tmf_idempotency_records SET request_hash = ?, status_code = 0, body = '', created_at = ?, updated_at = ? "+
			"WHERE principal = ? AND idem_key = ? AND state = ? AND updated_at = ?",
			requestHash, now, now, principal, key, IdempotencyRunning, cur.UpdatedAt)
		if res.Error != nil {
			return fail(res.Error)
		}
		if res.RowsAffected == 1 {
			return rec, true, nil
		}
	}
	return fail(errors.New("record keeps changing under contention"))
}

// CompleteIdempotency stores the answer of a running record and marks it
// done; ErrNotFound if there is no running record (never claimed, released,
// or already done).
func (s *Store) CompleteIdempotency(ctx context.Context, principal, key string, status int, body string) error {
	r := IdempotencyResult{Principal: principal, Key: key, StatusCode: status, Body: body}
	if err := completeIdempotency(s.db.WithContext(ctx), r, s.now()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func completeIdempotency(tx *gorm.DB, r IdempotencyResult, now time.Time) error {
	res := tx.Exec("UPDATE tmf_idempotency_records SET state = ?, status_code = ?, body = ?, updated_at = ? "+
		"WHERE principal = ? AND idem_key = ? AND state = ?",
		IdempotencyDone, r.StatusCode, r.Body, now, r.Principal, r.Key, IdempotencyRunning)
	if res.Error != nil {
		return fmt.Errorf("complete idempotency key %s of %s: %w", r.Key, r.Principal, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("complete idempotency key %s of %s: no running record: %w", r.Key, r.Principal, ErrNotFound)
	}
	return nil
}

// ReleaseIdempotency deletes a running record, so that a retry of a request
// that failed may proceed. A done record is kept; releasing what is not
// running does nothing.
func (s *Store) ReleaseIdempotency(ctx context.Context, principal, key string) error {
	err := s.db.WithContext(ctx).Exec("DELETE FROM tmf_idempotency_records WHERE principal = ? AND idem_key = ? AND state = ?",
		principal, key, IdempotencyRunning).Error
	if err != nil {
		return fmt.Errorf("store: release idempotency key %s of %s: %w", key, principal, err)
	}
	return nil
}
