package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ClaimIdempotency claims (principal, key) for a request whose canonical
// hash is requestHash, with a lease: the claim is the caller's until
// now+lease, and the caller renews it (RenewIdempotency) while the request
// runs. It returns (the new running record, true) when the caller owns the
// key now, or (the existing record, false) when another request holds or
// has answered it; the caller then compares hashes, waits or replays the
// stored answer. A running record whose lease ran out (its owner died, or
// lost the database, without releasing it) is taken over and returns true;
// lease <= 0 neither sets a lease nor takes over. Both the claim (an insert
// that loses on the primary key) and the take-over (a compare-and-set on
// owner and updated_at) are atomic: of any number of concurrent claimers
// exactly one wins. The record's Owner is the claim's identity, for
// RenewIdempotency and ReleaseIdempotency.
func (s *Store) ClaimIdempotency(ctx context.Context, principal, key, requestHash string, lease time.Duration) (IdempotencyRecord, bool, error) {
	if err := errors.Join(checkKey("principal", principal, maxPrincpl), checkKey("idempotency key", key, maxIdemKey)); err != nil {
		return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key: %w", err)
	}
	fail := func(err error) (IdempotencyRecord, bool, error) {
		return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key %s of %s: %w", key, principal, unavailable(err))
	}
	db := s.db.WithContext(ctx)
	// A record can vanish (released) or change (taken over, renewed)
	// between our statements; look again a few times before giving up.
	for range 5 {
		now := s.now()
		rec := IdempotencyRecord{Principal: principal, Key: key, RequestHash: requestHash, State: IdempotencyRunning,
			CreatedAt: now, UpdatedAt: now, Owner: newID(), LeaseUntil: leaseEnd(now, lease)}
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
		cur.CreatedAt, cur.UpdatedAt, cur.LeaseUntil = stamp(cur.CreatedAt), stamp(cur.UpdatedAt), stampPtr(cur.LeaseUntil)
		if cur.State != IdempotencyRunning || lease <= 0 || now.Before(cur.leaseExpiry(lease)) {
			return cur, false, nil
		}
		res := db.Exec("UPDATE tmf_idempotency_records SET request_hash = ?, status_code = 0, body = '', owner = ?, lease_until = ?, "+
			"created_at = ?, updated_at = ? WHERE principal = ? AND idem_key = ? AND state = ? AND owner = ? AND updated_at = ?",
			requestHash, rec.Owner, rec.LeaseUntil, now, now, principal, key, IdempotencyRunning, cur.Owner, cur.UpdatedAt)
		if res.Error != nil {
			return fail(res.Error)
		}
		if res.RowsAffected == 1 {
			return rec, true, nil
		}
	}
	return fail(errors.New("record keeps changing under contention"))
}

// leaseExpiry is when a running record may be taken over: its lease's end,
// or, for a record from before leases, lease after its last update.
func (r IdempotencyRecord) leaseExpiry(lease time.Duration) time.Time {
	if r.LeaseUntil != nil {
		return *r.LeaseUntil
	}
	return r.UpdatedAt.Add(lease)
}

func leaseEnd(now time.Time, lease time.Duration) *time.Time {
	if lease <= 0 {
		return nil
	}
	end := stamp(now.Add(lease))
	return &end
}

// RenewIdempotency extends the lease of the running claim that owner
// holds to now+lease. ErrNotFound when owner holds no running claim of the
// key any more (it was taken over after its lease ran out, or completed):
// the request should stop renewing, and its answer will not be recorded.
func (s *Store) RenewIdempotency(ctx context.Context, principal, key, owner string, lease time.Duration) error {
	now := s.now()
	res := s.db.WithContext(ctx).Exec("UPDATE tmf_idempotency_records SET lease_until = ?, updated_at = ? "+
		"WHERE principal = ? AND idem_key = ? AND state = ? AND owner = ?",
		leaseEnd(now, lease), now, principal, key, IdempotencyRunning, owner)
	if res.Error != nil {
		return fmt.Errorf("store: renew idempotency key %s of %s: %w", key, principal, unavailable(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: renew idempotency key %s of %s: no running claim of this owner: %w", key, principal, ErrNotFound)
	}
	return nil
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

// completeIdempotency marks the running record done with its answer, in
// the transaction of the change it answers. Whoever holds the claim, only
// one transaction can complete it: the record is running for exactly one
// of them, so a request taken over after its lease ran out and its
// successor never both commit their change.
func completeIdempotency(tx *gorm.DB, r IdempotencyResult, now time.Time) error {
	res := tx.Exec("UPDATE tmf_idempotency_records SET state = ?, status_code = ?, body = ?, lease_until = NULL, updated_at = ? "+
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

// ReleaseIdempotency deletes the running claim that owner holds, so that a
// retry of a request that failed may proceed at once. A done record, or a
// claim another owner took over, is kept; releasing what is not there does
// nothing. If the release itself fails, the claim's lease still runs out
// and a retry takes it over then.
func (s *Store) ReleaseIdempotency(ctx context.Context, principal, key, owner string) error {
	err := s.db.WithContext(ctx).Exec("DELETE FROM tmf_idempotency_records WHERE principal = ? AND idem_key = ? AND state = ? AND owner = ?",
		principal, key, IdempotencyRunning, owner).Error
	if err != nil {
		return fmt.Errorf("store: release idempotency key %s of %s: %w", key, principal, unavailable(err))
	}
	return nil
}
