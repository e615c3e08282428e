package stock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// The three orderings of TCC (try then confirm, try then cancel, cancel
// before try) and the refusals between them: the reservation's state is a
// semantic lock, so confirm-after-cancel, cancel-after-confirm and a late
// try after a cancel are all refused, and each of confirm and cancel is
// idempotent.
func TestReservationOrderings(t *testing.T) {
	type step struct {
		op      string // try, confirm, cancel
		wantErr string // "", "cancelled", "confirmed", "absent", "out_of_stock"
	}
	cases := []struct {
		name  string
		steps []step
		// held is what stays reserved, state the reservation's final state.
		held  int64
		state string
	}{
		{"try confirm", []step{{"try", ""}, {"confirm", ""}, {"confirm", ""}}, 3, stock.ReservationConfirmed},
		{"try cancel", []step{{"try", ""}, {"cancel", ""}, {"cancel", ""}}, 0, stock.ReservationCancelled},
		{"try twice", []step{{"try", ""}, {"try", ""}}, 3, stock.ReservationTried},
		{"cancel after confirm is refused", []step{{"try", ""}, {"confirm", ""}, {"cancel", "confirmed"}}, 3, stock.ReservationConfirmed},
		{"confirm after cancel is refused", []step{{"try", ""}, {"cancel", ""}, {"confirm", "cancelled"}}, 0, stock.ReservationCancelled},
		{"cancel before try: the late try is refused", []step{{"cancel", ""}, {"try", "cancelled"}}, 0, stock.ReservationCancelled},
		{"confirm without a try", []step{{"confirm", "absent"}}, 0, ""},
	}
	forEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		db := s.DB(ctx)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sku := "tcc-" + string(rune('a'+i))
				if err := s.Tx(ctx, func(tx *gorm.DB) error {
					_, err := stock.SetSellable(ctx, tx, sku, "east", 10, "test")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				order := "o-" + sku
				req := stock.ReserveRequest{OrderID: order, Location: "east", Lines: []stock.LineQty{{SKU: sku, Quantity: 3}}}
				for _, st := range c.steps {
					var err error
					switch st.op {
					case "try":
						err = stock.TryReserve(ctx, db, req, time.Now().Add(time.Minute), nil)
					case "confirm":
						err = stock.ConfirmReservation(ctx, db, order)
					case "cancel":
						err = stock.CancelReservation(ctx, db, order)
					}
					var re *stock.ReservationError
					got := ""
					if errors.As(err, &re) {
						got = re.State
						if got == "" {
							got = "absent"
						}
					} else if err != nil {
						t.Fatalf("%s: %v", st.op, err)
					}
					if got != st.wantErr {
						t.Fatalf("%s: refusal %q, want %q (%v)", st.op, got, st.wantErr, err)
					}
				}
				lv := levelOf(t, db, sku)
				if lv.Reserved != c.held || lv.Sellable != 10-c.held {
					t.Errorf("level %+v, want %d reserved of 10", lv, c.held)
				}
				r, _, err := stock.GetReservation(ctx, db, order)
				if err != nil || r.State != c.state {
					t.Errorf("reservation %+v (%v), want state %q", r, err, c.state)
				}
				wantSound(t, db)
			})
		}
	})
}

// A try that cannot be covered writes nothing, not even its reservation
// row; one whose hook fails (a crash before the commit) neither.
func TestTryRefusedHoldsNothing(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		db := s.DB(ctx)
		if err := s.Tx(ctx, func(tx *gorm.DB) error {
			_, err := stock.SetSellable(ctx, tx, "few", "east", 2, "test")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var oos *stock.OutOfStockError
		err := stock.TryReserve(ctx, db, stock.ReserveRequest{OrderID: "o-big", Location: "east",
			Lines: []stock.LineQty{{SKU: "few", Quantity: 3}}}, time.Now(), nil)
		if !errors.As(err, &oos) {
			t.Fatalf("try 3 of 2: %v, want out of stock", err)
		}
		boom := errors.New("crash")
		err = stock.TryReserve(ctx, db, stock.ReserveRequest{OrderID: "o-crash", Location: "east",
			Lines: []stock.LineQty{{SKU: "few", Quantity: 1}}}, time.Now(), func() error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("try with a failing hook: %v", err)
		}
		for _, id := range []string{"o-big", "o-crash"} {
			if _, ok, err := stock.GetReservation(ctx, db, id); ok || err != nil {
				t.Errorf("%s has a reservation (%v)", id, err)
			}
		}
		if lv := levelOf(t, db, "few"); lv.Sellable != 2 || lv.Reserved != 0 {
			t.Errorf("level %+v, want 2 sellable", lv)
		}
		due, err := stock.DueReservations(ctx, db, time.Now().Add(time.Hour), 10)
		if err != nil || len(due) != 0 {
			t.Errorf("due %v (%v), want none", due, err)
		}
	})
}

func levelOf(t *testing.T, db *gorm.DB, sku string) stock.Level {
	t.Helper()
	ls, err := stock.Levels(context.Background(), db, sku)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Location == "east" {
			return l
		}
	}
	return stock.Level{}
}
