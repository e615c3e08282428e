package promotion_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func migrate(t *testing.T, s *store.Store) {
	t.Helper()
	if err := s.MigrateModels(context.Background(), promotion.Models()...); err != nil {
		t.Fatal(err)
	}
}

// put writes promotions in one transaction and returns them as stored.
func put(t *testing.T, s *store.Store, book *promotion.Book, ps ...promotion.Promotion) []promotion.Promotion {
	t.Helper()
	var out []promotion.Promotion
	err := s.Tx(context.Background(), func(tx *gorm.DB) error {
		out = out[:0]
		for _, p := range ps {
			if p.Currency == "" {
				p.Currency = "CNY"
			}
			if p.Group == "" {
				p.Group = "store"
			}
			got, err := book.PutPromotion(context.Background(), tx, p)
			if err != nil {
				return err
			}
			out = append(out, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func amountOff(id string, amount int64) promotion.Promotion {
	return promotion.Promotion{ID: id, Kind: promotion.AmountOff, Params: promotion.Params{Amount: amount}, Enabled: true}
}

func couponPromo(id string, amount int64) promotion.Promotion {
	p := amountOff(id, amount)
	p.CouponRequired, p.Group = true, "coupon"
	return p
}

func issue(t *testing.T, s *store.Store, promotionID, owner string, codes []string, opts ...promotion.IssueOption) {
	t.Helper()
	if err := promotion.IssueCoupons(context.Background(), s.DB(context.Background()), promotionID, owner, codes, opts...); err != nil {
		t.Fatal(err)
	}
}

// redeem runs Redeem in a transaction of its own, as the order flow does.
func redeem(s *store.Store, orderID, buyerID string, applied ...extensions.Candidate) error {
	return s.Tx(context.Background(), func(tx *gorm.DB) error {
		return promotion.Redeem(context.Background(), tx, promotion.RedeemRequest{OrderID: orderID, BuyerID: buyerID,
			Applied: applied, Currency: "CNY", Now: t0})
	})
}

// redeemOnce runs Redeem in one transaction that is not retried: a
// deadlock would fail the racing tests instead of being run again.
func redeemOnce(s *store.Store, orderID, buyerID string, applied ...extensions.Candidate) error {
	return s.DB(context.Background()).Transaction(func(tx *gorm.DB) error {
		return promotion.Redeem(context.Background(), tx, promotion.RedeemRequest{OrderID: orderID, BuyerID: buyerID,
			Applied: applied, Currency: "CNY", Now: t0})
	})
}

func release(t *testing.T, s *store.Store, orderID string) {
	t.Helper()
	if err := s.Tx(context.Background(), func(tx *gorm.DB) error {
		return promotion.Release(context.Background(), tx, orderID)
	}); err != nil {
		t.Fatal(err)
	}
}

func coupon(code string, discount int64) extensions.Candidate {
	return extensions.Candidate{ID: promotion.CouponPrefix + code, Group: "coupon", Discount: discount}
}

func promo(id string, discount int64) extensions.Candidate {
	return extensions.Candidate{ID: promotion.PromoPrefix + id, Group: "store", Discount: discount}
}

// wantBudget checks a budget's buckets and that its ledger adds up to them.
func wantBudget(t *testing.T, s *store.Store, id string, total int64, buckets ...int64) {
	t.Helper()
	ctx := context.Background()
	b, err := promotion.GetBudget(ctx, s.DB(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range buckets {
		sum += r
	}
	if b.Total != total || b.Remaining != sum || !slices.Equal(b.Buckets, buckets) {
		t.Errorf("budget of %s: total %d remaining %d buckets %v; want %d, %d, %v", id, b.Total, b.Remaining, b.Buckets, total, sum, buckets)
	}
	wantLedger(t, s, id, b.Remaining)
}

// wantLedger checks that the budget ledger adds up to what the buckets
// hold and that no bucket is negative.
func wantLedger(t *testing.T, s *store.Store, id string, remaining int64) {
	t.Helper()
	ctx := context.Background()
	moves, err := promotion.BudgetMoves(ctx, s.DB(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range moves {
		sum += m.Amount
	}
	if sum != remaining {
		t.Errorf("budget ledger of %s adds up to %d, buckets hold %d", id, sum, remaining)
	}
	b, err := promotion.GetBudget(ctx, s.DB(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range b.Buckets {
		if r < 0 {
			t.Errorf("bucket %d of %s is negative: %d", i, id, r)
		}
	}
}

func wantCoupon(t *testing.T, s *store.Store, code, state, orderID string) {
	t.Helper()
	c, err := promotion.GetCoupon(context.Background(), s.DB(context.Background()), code)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != state || c.OrderID != orderID || (state == promotion.CouponUsed) != (c.UsedAt != nil) {
		t.Errorf("coupon %s: %s by %q (used at %v), want %s by %q", code, c.State, c.OrderID, c.UsedAt, state, orderID)
	}
}

func couponMoves(t *testing.T, s *store.Store, code string) []promotion.CouponMove {
	t.Helper()
	var out []promotion.CouponMove
	if err := s.DB(context.Background()).Where("code = ?", code).Order("order_id").Order("kind").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBookPersistence(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		now := t0
		book := promotion.NewBook(func() time.Time { return now })
		db := s.DB(ctx)
		order := extensions.PromotionRequest{BizCode: "retail", Lines: []extensions.Line{{SKU: "A", Quantity: 1, UnitPrice: 1000}},
			Subtotal: extensions.Money{Amount: 1000, Currency: "CNY"}}
		offered := func() map[string]int64 {
			out := map[string]int64{}
			for _, c := range book.Offer(order) {
				out[c.ID] = c.Discount
			}
			return out
		}

		p1 := put(t, s, book, amountOff("p1", 100))[0]
		if p1.Version != 1 || !p1.UpdatedAt.Equal(t0) {
			t.Errorf("created version %d at %v, want 1 at %v", p1.Version, p1.UpdatedAt, t0)
		}
		if len(offered()) != 0 {
			t.Errorf("offered %v before a refresh", offered())
		}
		if changed, err := book.Refresh(ctx, db); err != nil || !changed {
			t.Fatalf("refresh = %v, %v; want a change", changed, err)
		}
		if got := offered(); !maps.Equal(got, map[string]int64{"promo:p1": 100}) {
			t.Errorf("offered %v", got)
		}
		if changed, err := book.Refresh(ctx, db); err != nil || changed {
			t.Errorf("refresh without writes = %v, %v; want no change", changed, err)
		}

		// Create again: a conflict. Update from a stale version: a conflict.
		var vc *promotion.VersionConflictError
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			_, err := book.PutPromotion(ctx, tx, promotion.Promotion{ID: "p1", Kind: promotion.AmountOff,
				Params: promotion.Params{Amount: 5}, Group: "store", Currency: "CNY"})
			return err
		})
		if !errors.As(err, &vc) || vc.Expected != 0 || vc.Actual != 1 {
			t.Errorf("create twice: %v", err)
		}
		now = t0.Add(time.Second)
		upd := p1
		upd.Params.Amount = 200
		p1 = put(t, s, book, upd)[0]
		if p1.Version != 2 || !p1.UpdatedAt.Equal(now) {
			t.Errorf("updated version %d at %v", p1.Version, p1.UpdatedAt)
		}
		err = s.Tx(ctx, func(tx *gorm.DB) error { _, err := book.PutPromotion(ctx, tx, upd); return err })
		if !errors.As(err, &vc) || vc.Expected != 1 || vc.Actual != 2 {
			t.Errorf("stale update: %v", err)
		}
		var inv *promotion.InvalidPromotionError
		bad := p1
		bad.Params.Amount = -1
		if err := s.Tx(ctx, func(tx *gorm.DB) error { _, err := book.PutPromotion(ctx, tx, bad); return err }); !errors.As(err, &inv) {
			t.Errorf("invalid update: %v", err)
		}
		if changed, err := book.Refresh(ctx, db); err != nil || !changed {
			t.Fatalf("refresh = %v, %v; want a change", changed, err)
		}
		if got := offered(); !maps.Equal(got, map[string]int64{"promo:p1": 200}) {
			t.Errorf("offered %v after the update", got)
		}
		stored, err := promotion.GetPromotion(ctx, db, "p1")
		if err != nil || stored.Version != 2 || stored.Params.Amount != 200 {
			t.Errorf("stored %+v, %v", stored, err)
		}
		if got, _ := book.Promotion("p1"); got.Version != 2 || !got.UpdatedAt.Equal(now) {
			t.Errorf("book has %+v", got)
		}
		var nf *promotion.PromotionNotFoundError
		if _, err := promotion.GetPromotion(ctx, db, "nope"); !errors.As(err, &nf) {
			t.Errorf("unknown promotion: %v", err)
		}

		// The group order is stored and read back.
		if err := book.SetGroupOrder(ctx, db, []string{"coupon", "store"}); err != nil {
			t.Fatal(err)
		}
		if changed, err := book.Refresh(ctx, db); err != nil || !changed {
			t.Fatalf("refresh after the group order = %v, %v", changed, err)
		}
		if got := book.GroupOrder(); !slices.Equal(got, []string{"coupon", "store"}) {
			t.Errorf("group order %v", got)
		}
		if err := book.SetGroupOrder(ctx, db, []string{"store", "store"}); !errors.As(err, &inv) {
			t.Errorf("a group twice: %v", err)
		}

		// Budgets: granted in buckets, fixed once set, topped up once per key.
		b := amountOff("b", 7)
		b.Budget, b.BudgetBuckets = 100, 4
		b = put(t, s, book, b)[0]
		wantBudget(t, s, "b", 100, 25, 25, 25, 25)
		grow := b
		grow.Budget = 200
		err = s.Tx(ctx, func(tx *gorm.DB) error { _, err := book.PutPromotion(ctx, tx, grow); return err })
		if !errors.As(err, &inv) || inv.Problems[0].Field != "budget" {
			t.Errorf("budget changed by a put: %v", err)
		}
		for range 2 {
			if err := promotion.TopUpBudget(ctx, db, "b", 10, "k1"); err != nil {
				t.Fatal(err)
			}
		}
		wantBudget(t, s, "b", 110, 28, 28, 27, 27)
		if err := promotion.TopUpBudget(ctx, db, "p1", 10, "k1"); !errors.As(err, &inv) {
			t.Errorf("top-up of an unlimited promotion: %v", err)
		}
		// An unlimited promotion may be given a budget.
		p1.Budget = 50
		p1 = put(t, s, book, p1)[0]
		wantBudget(t, s, "p1", 50, 50)

		// Exhaustion: marked by the platform until a refresh finds money,
		// found empty by a refresh until a top-up.
		if _, err := book.Refresh(ctx, db); err != nil {
			t.Fatal(err)
		}
		book.MarkExhausted("p1")
		if got := offered(); got["promo:p1"] != 0 || !book.Exhausted("p1") {
			t.Errorf("offered %v after p1 was marked exhausted", got)
		}
		if changed, err := book.Refresh(ctx, db); err != nil || !changed || book.Exhausted("p1") {
			t.Errorf("refresh = %v, %v, exhausted %v; p1 has money", changed, err, book.Exhausted("p1"))
		}
		if err := redeem(s, "o-1", "buyer", promo("p1", 50)); err != nil {
			t.Fatal(err)
		}
		if _, err := book.Refresh(ctx, db); err != nil || !book.Exhausted("p1") {
			t.Errorf("refresh: %v, exhausted %v; p1 has no money left", err, book.Exhausted("p1"))
		}
		if got := offered(); got["promo:p1"] != 0 {
			t.Errorf("offered %v with p1 exhausted", got)
		}
		if err := promotion.TopUpBudget(ctx, db, "p1", 1, "more"); err != nil {
			t.Fatal(err)
		}
		if _, err := book.Refresh(ctx, db); err != nil || book.Exhausted("p1") {
			t.Errorf("refresh: %v, exhausted %v after a top-up", err, book.Exhausted("p1"))
		}

		// A stored row that no longer validates is left out of a load and
		// named; the others load.
		if err := db.Exec("UPDATE tmf_promotions SET kind = 'bogus', version = version + 1 WHERE id = 'b'").Error; err != nil {
			t.Fatal(err)
		}
		err = book.Load(ctx, db)
		if !errors.As(err, &inv) || inv.ID != "b" {
			t.Errorf("load with a bad row: %v", err)
		}
		ids := []string{}
		for _, p := range book.Promotions() {
			ids = append(ids, p.ID)
		}
		if !slices.Equal(ids, []string{"p1"}) {
			t.Errorf("loaded %v, want [p1]", ids)
		}
	})
}

func TestIssueCoupons(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		book := promotion.NewBook(nil)
		end := t0.Add(24 * time.Hour)
		cp := couponPromo("cp", 10)
		cp.Conditions.EndsAt = &end
		put(t, s, book, cp, amountOff("auto", 1), couponPromo("other", 1))
		db := s.DB(ctx)
		issue(t, s, "cp", "", []string{"A", "B"})
		issue(t, s, "cp", "", []string{"A", "B"}) // again: nothing happens
		issue(t, s, "cp", "b1", []string{"C"}, promotion.ExpiresAt(t0.Add(time.Hour)))
		a, err := promotion.GetCoupon(ctx, db, "A")
		if err != nil || a.PromotionID != "cp" || a.Owner != "" || a.State != promotion.CouponAvailable || a.ExpiresAt == nil || !a.ExpiresAt.Equal(end) {
			t.Errorf("coupon A: %+v, %v", a, err)
		}
		c, err := promotion.GetCoupon(ctx, db, "C")
		if err != nil || c.Owner != "b1" || c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("coupon C: %+v, %v", c, err)
		}
		var ex *promotion.CouponExistsError
		if err := promotion.IssueCoupons(ctx, db, "other", "", []string{"Z", "A"}); !errors.As(err, &ex) || ex.Code != "A" || ex.PromotionID != "cp" {
			t.Errorf("issuing A for another promotion: %v", err)
		}
		if err := promotion.IssueCoupons(ctx, db, "cp", "b2", []string{"A"}); !errors.As(err, &ex) {
			t.Errorf("issuing A for another owner: %v", err)
		}
		var ce *promotion.CouponError
		if err := promotion.IssueCoupons(ctx, db, "cp", "", []string{"bad code"}); !errors.As(err, &ce) || ce.Reason != promotion.ReasonInvalid {
			t.Errorf("a malformed code: %v", err)
		}
		var inv *promotion.InvalidPromotionError
		if err := promotion.IssueCoupons(ctx, db, "auto", "", []string{"X"}); !errors.As(err, &inv) {
			t.Errorf("coupons of an automatic promotion: %v", err)
		}
		var nf *promotion.PromotionNotFoundError
		if err := promotion.IssueCoupons(ctx, db, "nope", "", []string{"X"}); !errors.As(err, &nf) {
			t.Errorf("coupons of no promotion: %v", err)
		}
		// Many codes go in batches.
		var many []string
		for i := range 1200 {
			many = append(many, fmt.Sprintf("M%04d", i))
		}
		issue(t, s, "cp", "", many)
		var n int64
		if err := db.Model(&promotion.Coupon{}).Where("promotion_id = ?", "cp").Count(&n).Error; err != nil || n != 1203 {
			t.Errorf("%d coupons of cp, %v; want 1203", n, err)
		}
	})
}

// TestCheckCoupons runs testdata/coupons.json against a fixed set of
// coupons.
func TestCheckCoupons(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/coupons.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string            `json:"name"`
		Buyer  string            `json:"buyer"`
		Codes  []string          `json:"codes"`
		Want   map[string]string `json:"want"`
		Error  string            `json:"error"`
		Code   string            `json:"code"`
		Reason string            `json:"reason"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		book := promotion.NewBook(func() time.Time { return t0 })
		off := couponPromo("off", 5)
		off.Enabled = false
		put(t, s, book, couponPromo("cp", 10), couponPromo("cp2", 20), off)
		issue(t, s, "cp", "", []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "USED"})
		issue(t, s, "cp2", "", []string{"TWO"})
		issue(t, s, "cp", "b1", []string{"MINE"})
		issue(t, s, "cp", "b2", []string{"THEIRS"})
		issue(t, s, "cp", "", []string{"OLD"}, promotion.ExpiresAt(t0))
		issue(t, s, "cp", "", []string{"FRESH"}, promotion.ExpiresAt(t0.Add(time.Microsecond)))
		issue(t, s, "off", "", []string{"OFF"})
		if err := redeem(s, "o-used", "b9", coupon("USED", 10)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.Name, func(t *testing.T) {
				got, err := promotion.CheckCoupons(ctx, s.DB(ctx), tc.Buyer, tc.Codes, t0)
				switch tc.Error {
				case "":
					want := tc.Want
					if want == nil {
						want = map[string]string{}
					}
					if err != nil || !maps.Equal(got, want) {
						t.Errorf("got %v, %v; want %v", got, err, want)
					}
				case "too_many":
					var tm *promotion.TooManyCouponsError
					if !errors.As(err, &tm) || tm.Count != len(tc.Codes) || tm.Max != 10 {
						t.Errorf("got %v, %v; want too many coupons", got, err)
					}
				case "coupon":
					var ce *promotion.CouponError
					if !errors.As(err, &ce) || ce.Code != tc.Code || ce.Reason != tc.Reason {
						t.Errorf("got %v, %v; want coupon %s %s", got, err, tc.Code, tc.Reason)
					}
				default:
					t.Fatalf("unknown error kind %q", tc.Error)
				}
			})
		}
	})
}

// N orders race for one coupon: exactly one redeems it; the others are
// refused and leave nothing behind (the transactions are not retried).
func TestCouponRace(t *testing.T) {
	t.Parallel()
	const orders = 40
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		migrate(t, s)
		put(t, s, promotion.NewBook(nil), couponPromo("cp", 100))
		issue(t, s, "cp", "", []string{"ONE"})
		var won, used atomic.Int64
		winner := make(chan string, orders)
		var wg sync.WaitGroup
		for i := range orders {
			wg.Go(func() {
				id := fmt.Sprintf("o-%02d", i)
				err := redeemOnce(s, id, fmt.Sprintf("b-%02d", i), coupon("ONE", 100))
				var ce *promotion.CouponError
				switch {
				case err == nil:
					won.Add(1)
					winner <- id
				case errors.As(err, &ce) && ce.Code == "ONE" && ce.Reason == promotion.ReasonUsed:
					used.Add(1)
				default:
					t.Errorf("order %s: %v", id, err)
				}
			})
		}
		wg.Wait()
		close(winner)
		if won.Load() != 1 || used.Load() != orders-1 {
			t.Fatalf("%d redeemed and %d refused, want 1 and %d", won.Load(), used.Load(), orders-1)
		}
		w := <-winner
		wantCoupon(t, s, "ONE", promotion.CouponUsed, w)
		if ms := couponMoves(t, s, "ONE"); len(ms) != 1 || ms[0].OrderID != w || ms[0].Kind != promotion.MoveUse {
			t.Errorf("coupon ledger %+v, want one use by %s", ms, w)
		}
	})
}

// N orders of one unit race for a budget of K units: exactly K succeed,
// with one bucket and with several, and none deadlocks (the transactions
// are not retried).
func TestBudgetRace(t *testing.T) {
	t.Parallel()
	const orders, units = 40, 15
	for _, buckets := range []int{0, 4} {
		t.Run(fmt.Sprintf("buckets=%d", buckets), func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, s *store.Store) {
				migrate(t, s)
				p := amountOff("hot", 1)
				p.Budget, p.BudgetBuckets = units, buckets
				put(t, s, promotion.NewBook(nil), p)
				var ok, exhausted atomic.Int64
				var wg sync.WaitGroup
				for i := range orders {
					wg.Go(func() {
						err := redeemOnce(s, fmt.Sprintf("o-%02d", i), fmt.Sprintf("buyer-%02d", i), promo("hot", 1))
						var be *promotion.BudgetExhaustedError
						switch {
						case err == nil:
							ok.Add(1)
						case errors.As(err, &be) && be.PromotionID == "hot" && be.Requested == 1:
							exhausted.Add(1)
						default:
							t.Errorf("order %d: %v", i, err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != units || exhausted.Load() != orders-units {
					t.Errorf("%d paid and %d refused, want %d and %d", ok.Load(), exhausted.Load(), units, orders-units)
				}
				wantBudget(t, s, "hot", units, make([]int64, max(buckets, 1))...)
				moves, err := promotion.BudgetMoves(context.Background(), s.DB(context.Background()), "hot")
				if err != nil {
					t.Fatal(err)
				}
				consumed := 0
				for _, m := range moves {
					if m.Kind == promotion.MoveConsume {
						consumed++
						if m.Amount != -1 || m.Parts == "" {
							t.Errorf("consume move %+v", m)
						}
					}
				}
				if consumed != units {
					t.Errorf("%d consume moves, want %d", consumed, units)
				}
			})
		})
	}
}

// Discounts larger than one unit on a bucketed budget: whatever the
// interleaving, the budget is never overspent, the ledger agrees and no
// transaction deadlocks. Under contention an order may be refused while
// another bucket still holds money (see consume), so only the serialised
// SQLite run must pay exactly as many orders as fit.
func TestBudgetRaceLargeDiscounts(t *testing.T) {
	t.Parallel()
	const orders, budget, discount = 40, 100, 7
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		migrate(t, s)
		p := amountOff("hot", discount)
		p.Budget, p.BudgetBuckets = budget, 4
		put(t, s, promotion.NewBook(nil), p)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for i := range orders {
			wg.Go(func() {
				err := redeemOnce(s, fmt.Sprintf("o-%02d", i), fmt.Sprintf("buyer-%02d", i), promo("hot", discount))
				var be *promotion.BudgetExhaustedError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &be):
				default:
					t.Errorf("order %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		b, err := promotion.GetBudget(context.Background(), s.DB(context.Background()), "hot")
		if err != nil {
			t.Fatal(err)
		}
		paid := ok.Load() * discount
		if paid > budget || b.Remaining != budget-paid || ok.Load() == 0 {
			t.Errorf("%d orders paid %d of %d; %d remain", ok.Load(), paid, budget, b.Remaining)
		}
		if s.Dialect() == store.SQLite && ok.Load() != budget/discount {
			t.Errorf("serialised, %d orders paid, want %d", ok.Load(), budget/discount)
		}
		wantLedger(t, s, "hot", b.Remaining)
	})
}

// A discount no single bucket can pay is taken in parts; one the buckets
// together cannot pay is refused and leaves the transaction as it was.
func TestBudgetSplitAndGiveBack(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		p := amountOff("p", 1)
		p.Budget, p.BudgetBuckets = 10, 4
		put(t, s, promotion.NewBook(nil), p)
		wantBudget(t, s, "p", 10, 3, 3, 2, 2)
		// A discount the buyer's bucket can pay comes from it.
		own := dbutil.Bucket("buyer", 4)
		if err := redeem(s, "o-0", "buyer", promo("p", 2)); err != nil {
			t.Fatal(err)
		}
		want := []int64{3, 3, 2, 2}
		want[own] -= 2
		wantBudget(t, s, "p", 10, want...)
		release(t, s, "o-0")
		if err := redeem(s, "o-1", "buyer", promo("p", 7)); err != nil {
			t.Fatal(err)
		}
		// No bucket holds 7: taken from the bottom up, 3 + 3 + 1.
		wantBudget(t, s, "p", 10, 0, 0, 1, 2)
		b, _ := promotion.GetBudget(ctx, s.DB(ctx), "p")
		moves, _ := promotion.BudgetMoves(ctx, s.DB(ctx), "p")
		i := slices.IndexFunc(moves, func(m promotion.BudgetMove) bool { return m.Kind == promotion.MoveConsume && m.Ref == "o-1" })
		if i < 0 || moves[i].Amount != -7 || moves[i].Parts != "0:3,1:3,2:1" {
			t.Errorf("moves %+v: want o-1 consuming 7 as 0:3,1:3,2:1", moves)
		}
		// Refused, but the transaction commits: nothing of the attempt stays.
		var be *promotion.BudgetExhaustedError
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			err := promotion.Redeem(ctx, tx, promotion.RedeemRequest{OrderID: "o-2", BuyerID: "buyer2",
				Applied: []extensions.Candidate{promo("p", 4)}, Currency: "CNY"})
			if !errors.As(err, &be) || be.PromotionID != "p" || be.Requested != 4 || be.Contended {
				t.Errorf("4 of 3: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := promotion.GetBudget(ctx, s.DB(ctx), "p")
		if !slices.Equal(b2.Buckets, b.Buckets) {
			t.Errorf("buckets %v after a refusal, were %v", b2.Buckets, b.Buckets)
		}
		wantLedger(t, s, "p", 3)
		// Released, every bucket gets its part back.
		release(t, s, "o-1")
		wantBudget(t, s, "p", 10, 3, 3, 2, 2)
		// Another currency is refused.
		var cm *promotion.CurrencyMismatchError
		err = s.Tx(ctx, func(tx *gorm.DB) error {
			return promotion.Redeem(ctx, tx, promotion.RedeemRequest{OrderID: "o-3", BuyerID: "b",
				Applied: []extensions.Candidate{promo("p", 1)}, Currency: "USD"})
		})
		if !errors.As(err, &cm) || cm.Promotion != "CNY" || cm.Order != "USD" {
			t.Errorf("another currency: %v", err)
		}
	})
}

// A released coupon can be used again; Release and Redeem are idempotent.
func TestReleaseAndReuse(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		cp := couponPromo("cp", 100)
		cp.Budget = 1000
		put(t, s, promotion.NewBook(nil), cp, amountOff("free", 5))
		issue(t, s, "cp", "b1", []string{"R"})

		if err := redeem(s, "o-1", "b1", coupon("R", 100), promo("free", 5)); err != nil {
			t.Fatal(err)
		}
		wantCoupon(t, s, "R", promotion.CouponUsed, "o-1")
		wantBudget(t, s, "cp", 1000, 900)
		// Redeem again for the same order: nothing changes.
		if err := redeem(s, "o-1", "b1", coupon("R", 100)); err != nil {
			t.Fatal(err)
		}
		wantBudget(t, s, "cp", 1000, 900)

		release(t, s, "o-1")
		wantCoupon(t, s, "R", promotion.CouponAvailable, "")
		wantBudget(t, s, "cp", 1000, 1000)
		release(t, s, "o-1") // a second release is a no-op
		wantCoupon(t, s, "R", promotion.CouponAvailable, "")
		wantBudget(t, s, "cp", 1000, 1000)
		if got, err := promotion.CheckCoupons(ctx, s.DB(ctx), "b1", []string{"R"}, t0); err != nil || got["R"] != "cp" {
			t.Errorf("check after release: %v, %v", got, err)
		}

		// Another order of the owner uses it again.
		if err := redeem(s, "o-2", "b1", coupon("R", 60)); err != nil {
			t.Fatal(err)
		}
		wantCoupon(t, s, "R", promotion.CouponUsed, "o-2")
		wantBudget(t, s, "cp", 1000, 940)
		// Releasing the first order again must not free the second's use,
		// and the first order cannot take it back.
		release(t, s, "o-1")
		if err := redeem(s, "o-1", "b1", coupon("R", 100)); err != nil {
			t.Fatal(err)
		}
		wantCoupon(t, s, "R", promotion.CouponUsed, "o-2")
		wantBudget(t, s, "cp", 1000, 940)
		var ce *promotion.CouponError
		if err := redeem(s, "o-3", "b1", coupon("R", 1)); !errors.As(err, &ce) || ce.Reason != promotion.ReasonUsed {
			t.Errorf("a used coupon: %v", err)
		}
		ms := couponMoves(t, s, "R")
		var kinds []string
		for _, m := range ms {
			kinds = append(kinds, m.OrderID+"/"+m.Kind)
		}
		if !slices.Equal(kinds, []string{"o-1/release", "o-1/use", "o-2/use"}) {
			t.Errorf("coupon ledger %v", kinds)
		}
		release(t, s, "o-nothing") // an order that took nothing
	})
}

// Redeem refuses coupons that are not the buyer's, have expired or do not
// exist, whatever CheckCoupons said earlier.
func TestRedeemRefusals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		migrate(t, s)
		put(t, s, promotion.NewBook(nil), couponPromo("cp", 10))
		issue(t, s, "cp", "b2", []string{"THEIRS"})
		issue(t, s, "cp", "", []string{"OLD"}, promotion.ExpiresAt(t0))
		for _, tc := range []struct{ code, reason string }{
			{"THEIRS", promotion.ReasonNotFound}, {"OLD", promotion.ReasonExpired}, {"NONE", promotion.ReasonNotFound},
		} {
			var ce *promotion.CouponError
			if err := redeem(s, "o-1", "b1", coupon(tc.code, 10)); !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != tc.reason {
				t.Errorf("%s: %v, want %s", tc.code, err, tc.reason)
			}
		}
		wantCoupon(t, s, "THEIRS", promotion.CouponAvailable, "")
		wantCoupon(t, s, "OLD", promotion.CouponAvailable, "")
		// Usable until a microsecond before its expiry, and by its owner.
		issue(t, s, "cp", "b2", []string{"FRESH"}, promotion.ExpiresAt(t0.Add(time.Microsecond)))
		if err := redeem(s, "o-2", "b2", coupon("FRESH", 10), coupon("THEIRS", 10)); err != nil {
			t.Fatal(err)
		}
		wantCoupon(t, s, "FRESH", promotion.CouponUsed, "o-2")
		wantCoupon(t, s, "THEIRS", promotion.CouponUsed, "o-2")
	})
}
