package stock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"gorm.io/gorm"
)

// N buyers race for K units (each transaction its own s.Tx, PostgreSQL and
// MySQL on 16 connections, SQLite on its one).
const racers, units = 40, 15

// mustTx runs fn in one transaction and fails the test on error.
func mustTx(t testing.TB, s *store.Store, fn func(tx *gorm.DB) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func setSellable(t testing.TB, s *store.Store, sku, location string, q int64) {
	t.Helper()
	mustTx(t, s, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(context.Background(), tx, sku, location, q, "test")
		return err
	})
}

// race runs n calls of fn at once and counts successes and the refusals
// that match want (an errors.As target); anything else fails the test.
func race[E error](t *testing.T, n int, fn func(i int) error) (ok, refused int64) {
	t.Helper()
	var okN, refusedN atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := fn(i)
			var e E
			switch {
			case err == nil:
				okN.Add(1)
			case errors.As(err, &e):
				refusedN.Add(1)
			default:
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return okN.Load(), refusedN.Load()
}

func reserveOne(s *store.Store, order, channel, buyer, sku string, q int64) error {
	return s.Tx(context.Background(), func(tx *gorm.DB) error {
		return stock.Reserve(context.Background(), tx, stock.ReserveRequest{OrderID: order, Location: "w1",
			Channel: channel, BuyerID: buyer, Lines: []stock.LineQty{{LineNo: 1, SKU: sku, Quantity: q}}})
	})
}

func countRows(t testing.TB, db *gorm.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&stock.LedgerEntry{}).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Exactly min(N, K) reservations succeed, the others are out of stock,
// nothing goes negative and the ledger agrees.
func TestConcurrentReserveNeverOversells(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "hot", "w1", units)
		ok, oos := race[*stock.OutOfStockError](t, racers, func(i int) error {
			return reserveOne(s, fmt.Sprintf("o-%03d", i), "", fmt.Sprint("buyer-", i), "hot", 1)
		})
		if ok != units || oos != racers-units {
			t.Errorf("%d reserved, %d out of stock; want %d and %d", ok, oos, units, racers-units)
		}
		db := s.DB(t.Context())
		wantSlots(t, db, "hot", "w1", map[string]buckets{"": {0, units, 0, 0}})
		if n := countRows(t, db, "kind = ?", stock.KindReserve); n != units {
			t.Errorf("%d reserve rows, want %d", n, units)
		}
		wantSound(t, db)
	})
}

// The same with the hot SKU split into 8 buckets: the buckets never sell
// more than the stock, and fall back to each other until it is gone.
func TestConcurrentReserveWithBuckets(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "hot", "w1", units)
		mustTx(t, s, func(tx *gorm.DB) error { return stock.SplitBuckets(t.Context(), tx, "hot", "w1", 8) })
		ok, oos := race[*stock.OutOfStockError](t, racers, func(i int) error {
			return reserveOne(s, fmt.Sprintf("o-%03d", i), "", fmt.Sprint("buyer-", i), "hot", 1)
		})
		if ok != units || oos != racers-units {
			t.Errorf("%d reserved, %d out of stock; want %d and %d", ok, oos, units, racers-units)
		}
		db := s.DB(t.Context())
		levels, err := stock.Levels(t.Context(), db, "hot")
		if err != nil {
			t.Fatal(err)
		}
		if l := levels[0]; l.Sellable != 0 || l.Reserved != units || l.Buckets != 8 {
			t.Errorf("level %+v, want 0 sellable, %d reserved over 8 buckets", l, units)
		}
		wantSound(t, db)
	})
}

// Lines of 2 and 3 units on 8 buckets make the buckets merge under
// concurrency: never more reserved than there is, and the ledger agrees.
func TestConcurrentBucketMerges(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "hot", "w1", 2*units)
		mustTx(t, s, func(tx *gorm.DB) error { return stock.SplitBuckets(t.Context(), tx, "hot", "w1", 8) })
		var want atomic.Int64
		race[*stock.OutOfStockError](t, racers, func(i int) error {
			q := int64(2 + i%2)
			err := reserveOne(s, fmt.Sprintf("o-%03d", i), "", fmt.Sprint("buyer-", i), "hot", q)
			if err == nil {
				want.Add(q)
			}
			return err
		})
		levels, err := stock.Levels(t.Context(), s.DB(t.Context()), "hot")
		if err != nil {
			t.Fatal(err)
		}
		if l := levels[0]; l.Reserved != want.Load() || l.Sellable+l.Reserved != 2*units || l.Sellable < 0 {
			t.Errorf("level %+v: want %d reserved of %d", l, want.Load(), 2*units)
		}
		if want.Load() < 2*units-2 { // what is left is less than a line
			t.Logf("%d of %d units reserved (merges lost races)", want.Load(), 2*units)
		}
		wantSound(t, s.DB(t.Context()))
	})
}

// A shared cap of K on a pool of plenty: exactly K orders of the channel
// get one unit each.
func TestConcurrentSharedCap(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "hot", "w1", 100)
		mustTx(t, s, func(tx *gorm.DB) error {
			return stock.SetChannel(t.Context(), tx, stock.ChannelConfig{SKU: "hot", Location: "w1", Channel: "app",
				Mode: stock.ModeShared, Quantity: units})
		})
		ok, oos := race[*stock.OutOfStockError](t, racers, func(i int) error {
			return reserveOne(s, fmt.Sprintf("o-%03d", i), "app", fmt.Sprint("buyer-", i), "hot", 1)
		})
		if ok != units || oos != racers-units {
			t.Errorf("%d reserved, %d out of stock; want %d and %d", ok, oos, units, racers-units)
		}
		db := s.DB(t.Context())
		levels, err := stock.Levels(t.Context(), db, "hot")
		if err != nil {
			t.Fatal(err)
		}
		want := []stock.ChannelSetting{{Channel: "app", Mode: stock.ModeShared, Cap: units, Used: units}}
		if l := levels[0]; len(l.Channels) != 1 || l.Channels[0] != want[0] || l.Sellable != 100-units {
			t.Errorf("level %+v, want channels %+v", l, want)
		}
		wantSound(t, db)
	})
}

// A mutex set-aside of K: exactly K orders of the channel get it, and the
// common pool is untouched.
func TestConcurrentMutexSetAside(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "hot", "w1", 100)
		mustTx(t, s, func(tx *gorm.DB) error {
			return stock.SetChannel(t.Context(), tx, stock.ChannelConfig{SKU: "hot", Location: "w1", Channel: "app",
				Mode: stock.ModeMutex, Quantity: units})
		})
		ok, oos := race[*stock.OutOfStockError](t, racers, func(i int) error {
			return reserveOne(s, fmt.Sprintf("o-%03d", i), "app", fmt.Sprint("buyer-", i), "hot", 1)
		})
		if ok != units || oos != racers-units {
			t.Errorf("%d reserved, %d out of stock; want %d and %d", ok, oos, units, racers-units)
		}
		wantSlots(t, s.DB(t.Context()), "hot", "w1", map[string]buckets{"": {100 - units, 0, 0, 0}, "ch:app": {0, units, 0, 0}})
		wantSound(t, s.DB(t.Context()))
	})
}

// Racing duplicates of one move, of one return, and of the two kinds of a
// pair: the stock moves once, and the losing kind is refused.
func TestConcurrentDuplicateMovesMoveOnce(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		setSellable(t, s, "a", "w1", 20)
		for _, o := range []string{"o-1", "o-2"} {
			if err := reserveOne(s, o, "", "b", "a", 3); err != nil {
				t.Fatal(err)
			}
		}
		move := func(order, kind string) error {
			return s.Tx(ctx, func(tx *gorm.DB) error { return stock.Move(ctx, tx, order, kind) })
		}
		for _, kind := range []string{stock.KindConfirm, stock.KindShip} {
			ok, refused := race[*stock.StateError](t, racers, func(int) error { return move("o-1", kind) })
			if ok != racers || refused != 0 {
				t.Errorf("%s: %d succeeded, %d refused; want all %d to succeed", kind, ok, refused, racers)
			}
		}
		db := s.DB(ctx)
		wantSlots(t, db, "a", "w1", map[string]buckets{"": {14, 3, 0, 3}})
		ok, refused := race[*stock.ReturnError](t, racers, func(int) error {
			return s.Tx(ctx, func(tx *gorm.DB) error {
				return stock.Return(ctx, tx, stock.ReturnRequest{OrderID: "o-1", ReturnID: "r-1",
					Lines: []stock.LineQty{{LineNo: 1, Quantity: 2}}})
			})
		})
		if ok != racers || refused != 0 {
			t.Errorf("return: %d succeeded, %d refused; want all %d to succeed", ok, refused, racers)
		}
		wantSlots(t, db, "a", "w1", map[string]buckets{"": {16, 3, 0, 1}})

		// Half confirm, half release o-2: one kind wins, every call of it
		// succeeds, every call of the other is refused.
		var confirmed, released atomic.Int64
		race[*stock.StateError](t, racers, func(i int) error {
			kind := []string{stock.KindConfirm, stock.KindRelease}[i%2]
			err := move("o-2", kind)
			if err == nil && kind == stock.KindConfirm {
				confirmed.Add(1)
			} else if err == nil {
				released.Add(1)
			}
			return err
		})
		switch c, r := confirmed.Load(), released.Load(); {
		case c == racers/2 && r == 0:
			wantSlots(t, db, "a", "w1", map[string]buckets{"": {16, 0, 3, 1}})
		case r == racers/2 && c == 0:
			wantSlots(t, db, "a", "w1", map[string]buckets{"": {19, 0, 0, 1}})
		default:
			t.Errorf("%d confirmed and %d released; want %d of one kind only", c, r, racers/2)
		}
		if n := countRows(t, db, "order_id = ? AND kind IN ?", "o-2", []string{stock.KindConfirm, stock.KindRelease}); n != 1 {
			t.Errorf("%d confirm/release rows for o-2, want 1", n)
		}
		wantSound(t, db)
	})
}

// Returns with different ids race for one shipped line of K: exactly K
// units come back.
func TestConcurrentReturnsNeverExceedShipped(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		setSellable(t, s, "a", "w1", units)
		if err := reserveOne(s, "o-1", "", "b", "a", units); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{stock.KindConfirm, stock.KindShip} {
			mustTx(t, s, func(tx *gorm.DB) error { return stock.Move(ctx, tx, "o-1", kind) })
		}
		ok, refused := race[*stock.ReturnError](t, racers, func(i int) error {
			return s.Tx(ctx, func(tx *gorm.DB) error {
				return stock.Return(ctx, tx, stock.ReturnRequest{OrderID: "o-1", ReturnID: fmt.Sprint("r-", i),
					Lines: []stock.LineQty{{LineNo: 1, SKU: "a", Quantity: 1}}})
			})
		})
		if ok != units || refused != racers-units {
			t.Errorf("%d returns, %d refused; want %d and %d", ok, refused, units, racers-units)
		}
		wantSlots(t, s.DB(ctx), "a", "w1", map[string]buckets{"": {units, 0, 0, 0}})
		wantSound(t, s.DB(ctx))
	})
}

// SetSellable racing reservations loses no update: every successful order
// holds its reservation and the audit is clean.
func TestConcurrentSetSellableAndReserve(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		setSellable(t, s, "a", "w1", 30)
		var reserved atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				err := reserveOne(s, fmt.Sprintf("o-%03d", i), "", fmt.Sprint("buyer-", i), "a", 1)
				var oos *stock.OutOfStockError
				switch {
				case err == nil:
					reserved.Add(1)
				case !errors.As(err, &oos):
					t.Errorf("order %d: %v", i, err)
				}
			})
		}
		for range 10 {
			wg.Go(func() {
				err := s.Tx(context.Background(), func(tx *gorm.DB) error {
					_, err := stock.SetSellable(context.Background(), tx, "a", "w1", rand.Int64N(30), "recount")
					return err
				})
				var oos *stock.OutOfStockError
				if err != nil && !errors.As(err, &oos) { // a decrease that lost its race is refused
					t.Error(err)
				}
			})
		}
		wg.Wait()
		levels, err := stock.Levels(t.Context(), s.DB(t.Context()), "a")
		if err != nil {
			t.Fatal(err)
		}
		if levels[0].Reserved != reserved.Load() {
			t.Errorf("reserved %d, want the %d orders", levels[0].Reserved, reserved.Load())
		}
		wantSound(t, s.DB(t.Context()))
	})
}
