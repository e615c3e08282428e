package stock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// Reservation states: the semantic lock of a reservation (reference 004
// §1.1). tried holds stock for an order that may still commit; confirmed
// and cancelled are final, and neither follows the other.
const (
	ReservationTried     = "tried"
	ReservationConfirmed = "confirmed"
	ReservationCancelled = "cancelled"
)

// Reservation is the fence row of an order's stock when stock lives in its
// own database (try / confirm / cancel): keyed by the order id, written in
// the same stock transaction as the reserve rows it stands for. A
// cancelled row without lines is an "empty rollback": a cancel that came
// before its try, so that a late try is refused.
type Reservation struct {
	OrderID string `gorm:"primaryKey;size:40" json:"orderId"`
	State   string `gorm:"size:16;not null;index:idx_tmf_stock_reservations_due,priority:1" json:"state"`
	// ExpiresAt (Unix microseconds: integers compare alike on the three
	// databases) is when a tried reservation is due for the sweeper.
	ExpiresAt int64 `gorm:"not null;index:idx_tmf_stock_reservations_due,priority:2" json:"expiresAt"`
	// Request is the ReserveRequest the try reserved, as JSON; empty for an
	// empty rollback.
	Request   string    `gorm:"type:text;not null" json:"request"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Reservation) TableName() string { return "tmf_stock_reservations" }

// ReservationError is the refusal of a try, confirm or cancel that finds
// the reservation in a state it may not leave or enter: a try after a
// cancel (State cancelled), a cancel after a confirm (State confirmed), a
// confirm after a cancel (State cancelled) or of a reservation that was
// never tried (State "").
type ReservationError struct {
	OrderID string
	Op      string // "try", "confirm" or "cancel"
	State   string
}

func (e *ReservationError) Error() string {
	st := e.State
	if st == "" {
		st = "absent"
	}
	return fmt.Sprintf("stock: %s reservation of order %s: it is %s", e.Op, e.OrderID, st)
}

// TryReserve is the try of the placement protocol: in ONE transaction of
// db (the stock database; it opens it) it writes the order's reservation
// row (tried, due at expires) and reserves the lines as Reserve does. The
// order commits afterwards in its own database; ConfirmReservation or
// CancelReservation then settles the row.
//
// Idempotent per order: a try that finds the order's row tried or
// confirmed does nothing; one that finds it cancelled refuses with
// *ReservationError (anti-suspension: a cancel that overtook its try wins).
// A refusal of Reserve (*OutOfStockError) writes nothing. hook, when not
// nil, runs in the transaction after the reserve rows and before the
// commit; an error from it rolls everything back (fault injection).
func TryReserve(ctx context.Context, db *gorm.DB, req ReserveRequest, expires time.Time, hook func() error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("stock: try order %s: %w", req.OrderID, err)
	}
	if _, err := req.check(); err != nil {
		return fmt.Errorf("stock: try: %w", err)
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		at := now()
		fresh, err := dbutil.InsertOnce(tx, &Reservation{OrderID: req.OrderID, State: ReservationTried,
			ExpiresAt: expires.UnixMicro(), Request: string(body), CreatedAt: at, UpdatedAt: at})
		if err != nil {
			return fmt.Errorf("stock: try order %s: %w", req.OrderID, err)
		}
		if !fresh {
			r, err := reservationOf(tx, req.OrderID)
			if err != nil {
				return err
			}
			if r.State == ReservationCancelled {
				return &ReservationError{OrderID: req.OrderID, Op: "try", State: r.State}
			}
			return nil
		}
		if err := Reserve(ctx, tx, req); err != nil {
			return err
		}
		if hook != nil {
			return hook()
		}
		return nil
	})
}

// ConfirmReservation marks the order's reservation confirmed: its order
// committed. The stock stays reserved (later lifecycle moves take it from
// there). Idempotent; a cancelled or absent reservation refuses with
// *ReservationError.
func ConfirmReservation(ctx context.Context, db *gorm.DB, orderID string) error {
	db = db.WithContext(ctx)
	res := db.Exec("UPDATE tmf_stock_reservations SET state = ?, updated_at = ? WHERE order_id = ? AND state = ?",
		ReservationConfirmed, now(), orderID, ReservationTried)
	if res.Error != nil {
		return fmt.Errorf("stock: confirm reservation of order %s: %w", orderID, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	r, err := reservationOf(db, orderID)
	if err != nil {
		return err
	}
	if r.State == ReservationConfirmed {
		return nil
	}
	return &ReservationError{OrderID: orderID, Op: "confirm", State: r.State}
}

// CancelReservation releases the order's reservation: its order never
// committed. In one transaction of db it moves the row from tried to
// cancelled with a conditional update (the semantic lock: a confirmed row
// refuses with *ReservationError, so cancel-after-confirm cannot happen)
// and releases every part of it (Move with KindRelease). Idempotent; a
// cancel that finds no row writes a cancelled one without lines, so that a
// late try is refused.
func CancelReservation(ctx context.Context, db *gorm.DB, orderID string) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		at := now()
		fresh, err := dbutil.InsertOnce(tx, &Reservation{OrderID: orderID, State: ReservationCancelled, CreatedAt: at, UpdatedAt: at})
		if err != nil {
			return fmt.Errorf("stock: cancel reservation of order %s: %w", orderID, err)
		}
		if fresh {
			return nil
		}
		res := tx.Exec("UPDATE tmf_stock_reservations SET state = ?, updated_at = ? WHERE order_id = ? AND state = ?",
			ReservationCancelled, at, orderID, ReservationTried)
		if res.Error != nil {
			return fmt.Errorf("stock: cancel reservation of order %s: %w", orderID, res.Error)
		}
		if res.RowsAffected == 1 {
			return Move(ctx, tx, orderID, KindRelease)
		}
		r, err := reservationOf(tx, orderID)
		if err != nil {
			return err
		}
		if r.State == ReservationCancelled {
			return nil
		}
		return &ReservationError{OrderID: orderID, Op: "cancel", State: r.State}
	})
}

// DueReservations lists up to limit tried reservations whose expiry is
// before t, the oldest first: the sweeper's work.
func DueReservations(ctx context.Context, db *gorm.DB, t time.Time, limit int) ([]Reservation, error) {
	var rows []Reservation
	err := db.WithContext(ctx).Where("state = ? AND expires_at < ?", ReservationTried, t.UnixMicro()).
		Order("expires_at").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stock: due reservations: %w", err)
	}
	return rows, nil
}

// ReservationCounts counts reservations by state.
func ReservationCounts(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := db.WithContext(ctx).Model(&Reservation{}).Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("stock: count reservations: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// GetReservation returns the order's reservation; ok is false when it has
// none.
func GetReservation(ctx context.Context, db *gorm.DB, orderID string) (r Reservation, ok bool, err error) {
	r, err = reservationOf(db.WithContext(ctx), orderID)
	return r, err == nil && r.State != "", err
}

func reservationOf(db *gorm.DB, orderID string) (Reservation, error) {
	var rows []Reservation
	if err := db.Raw("SELECT * FROM tmf_stock_reservations WHERE order_id = ?"+currentRead(db), orderID).Scan(&rows).Error; err != nil {
		return Reservation{}, fmt.Errorf("stock: read reservation of order %s: %w", orderID, err)
	}
	if len(rows) == 0 {
		return Reservation{}, nil
	}
	return rows[0], nil
}
