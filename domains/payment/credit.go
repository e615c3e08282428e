package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/extensions"
)

// Agent credit (预付款/授信, reference 004): a B2B agent orders against a
// credit line instead of paying by card. Placing an order reserves its
// total (available → reserved), paying captures it (reserved → used),
// cancelling before payment releases it (reserved → available), cancelling
// after payment or returning goods refunds it (used → available). Every
// movement is a conditional update of tmf_credit_accounts checked by its
// row count, preceded by the insert of its tmf_credit_moves row under a
// unique move key, so it happens once however often it is asked for.
//
// The functions that take tx run inside the caller's transaction (the
// order's) and never open one; when they return an error the transaction
// holds partial writes and must be rolled back.

// SetCreditLimit sets the credit limit of an agent, creating the account
// (in currency) when it has none, and returns the account. Raising or
// lowering the limit moves Available by the difference, in one conditional
// update; a limit below what is in use (Reserved + Used) is refused with
// *CreditLimitError, a currency other than the account's with
// *CurrencyMismatchError. It writes a MoveLimit move whose Amount is the new
// limit. It must run inside a transaction.
func SetCreditLimit(ctx context.Context, tx *gorm.DB, agentID, currency string, limit int64) (AgentCredit, error) {
	if err := firstErr(checkID("agentId", agentID, maxAgentID), checkCurrency(currency)); err != nil {
		return AgentCredit{}, err
	}
	if limit < 0 {
		return AgentCredit{}, &InvalidRequestError{Field: "limit", Reason: fmt.Sprintf("%d is negative", limit)}
	}
	tx = tx.WithContext(ctx)
	now := creditNow()
	if _, err := dbutil.InsertOnce(tx, &AgentCredit{AgentID: agentID, Currency: currency, UpdatedAt: now}); err != nil {
		return AgentCredit{}, fmt.Errorf("payment: set credit limit of %s: %w", agentID, err)
	}
	// available is assigned first: MySQL evaluates SET left to right with the
	// new values, the others with the old ones; this order means the same.
	res := tx.Exec("UPDATE tmf_credit_accounts SET available = available + ? - credit_limit, credit_limit = ?, updated_at = ? "+
		"WHERE agent_id = ? AND currency = ? AND available + ? - credit_limit >= 0", limit, limit, now, agentID, currency, limit)
	if res.Error != nil {
		return AgentCredit{}, fmt.Errorf("payment: set credit limit of %s: %w", agentID, res.Error)
	}
	acct, err := CreditAccount(ctx, tx, agentID)
	if err != nil {
		return AgentCredit{}, err
	}
	if res.RowsAffected != 1 {
		switch {
		case acct.Currency != currency:
			return AgentCredit{}, &CurrencyMismatchError{Want: acct.Currency, Got: currency}
		case acct.CreditLimit != limit: // MySQL counts an unchanged row as not affected
			return AgentCredit{}, &CreditLimitError{Agent: agentID, Limit: limit, InUse: acct.Reserved + acct.Used}
		}
	}
	move := CreditMove{MoveKey: agentID + "/limit/" + newID("lim"), AgentID: agentID, Kind: MoveLimit,
		Amount: limit, Currency: currency, CreatedAt: now}
	if err := tx.Create(&move).Error; err != nil {
		return AgentCredit{}, fmt.Errorf("payment: set credit limit of %s: move: %w", agentID, err)
	}
	return acct, nil
}

// CreditAccount returns an agent's credit account, or
// *CreditAccountNotFoundError. It needs no transaction.
func CreditAccount(ctx context.Context, db *gorm.DB, agentID string) (AgentCredit, error) {
	var out AgentCredit
	err := db.WithContext(ctx).Where("agent_id = ?", agentID).Take(&out).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AgentCredit{}, &CreditAccountNotFoundError{Agent: agentID}
	}
	if err != nil {
		return AgentCredit{}, fmt.Errorf("payment: credit account of %s: %w", agentID, err)
	}
	out.UpdatedAt = dbutil.Stamp(out.UpdatedAt)
	return out, nil
}

// CreditMoves returns the moves of an agent's credit, oldest first. It
// needs no transaction.
func CreditMoves(ctx context.Context, db *gorm.DB, agentID string) ([]CreditMove, error) {
	var out []CreditMove
	if err := db.WithContext(ctx).Where("agent_id = ?", agentID).Order("created_at").Order("move_key").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("payment: credit moves of %s: %w", agentID, err)
	}
	for i := range out {
		out[i].CreatedAt = dbutil.Stamp(out[i].CreatedAt)
	}
	return out, nil
}

// ReserveCredit reserves amount of an agent's credit for an order, when the
// order is placed: available → reserved with the conditional update
// available >= amount. Refusals: *InsufficientCreditError,
// *CreditAccountNotFoundError, *CurrencyMismatchError (the amount is not in
// the account's currency). Reserving again for the same order with the
// same agent and amount does nothing; with others it is a
// *CreditReservationError. It must run inside the order's transaction.
func ReserveCredit(ctx context.Context, tx *gorm.DB, orderID, agentID string, amount extensions.Money) error {
	if err := firstErr(checkID("orderId", orderID, maxOrderID), checkID("agentId", agentID, maxAgentID),
		checkAmount(amount.Amount), checkCurrency(amount.Currency)); err != nil {
		return err
	}
	tx = tx.WithContext(ctx)
	now := creditNow()
	move := CreditMove{MoveKey: orderID + "/reserve", AgentID: agentID, OrderID: orderID, Kind: MoveReserve,
		Amount: amount.Amount, Currency: amount.Currency, CreatedAt: now}
	inserted, err := dbutil.InsertOnce(tx, &move)
	if err != nil {
		return fmt.Errorf("payment: reserve credit for order %s: %w", orderID, err)
	}
	if !inserted {
		old, found, err := creditMove(tx, move.MoveKey)
		if err != nil || !found {
			return fmt.Errorf("payment: reserve credit for order %s: move %s: found %v: %w", orderID, move.MoveKey, found, err)
		}
		if old.AgentID != agentID || old.Amount != amount.Amount || old.Currency != amount.Currency {
			return &CreditReservationError{OrderID: orderID, State: ReservationReserved, Op: "reserve"}
		}
		return nil
	}
	res := tx.Exec("UPDATE tmf_credit_accounts SET available = available - ?, reserved = reserved + ?, updated_at = ? "+
		"WHERE agent_id = ? AND currency = ? AND available >= ?", amount.Amount, amount.Amount, now, agentID, amount.Currency, amount.Amount)
	if res.Error != nil {
		return fmt.Errorf("payment: reserve credit for order %s: %w", orderID, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	acct, err := CreditAccount(ctx, tx, agentID)
	switch {
	case err != nil:
		return err
	case acct.Currency != amount.Currency:
		return &CurrencyMismatchError{Want: acct.Currency, Got: amount.Currency}
	}
	return &InsufficientCreditError{Agent: agentID, Requested: amount.Amount, Available: acct.Available}
}

// CaptureCredit pays an order with the credit it reserved: reserved → used.
// It records a succeeded agent_credit charge in tmf_payments (key
// "agent_credit:ORDER/capture") and the order's captured balance, and
// returns that payment. Capturing again returns the same payment and moves
// nothing. Refusals: *CreditReservationError (no reservation, or it was
// released), *AlreadyPaidError or *InProgressError (another charge holds
// the order). It must run inside the order's transaction.
func CaptureCredit(ctx context.Context, tx *gorm.DB, orderID string) (Payment, error) {
	tx = tx.WithContext(ctx)
	reserve, err := reservation(tx, orderID, "capture")
	if err != nil {
		return Payment{}, err
	}
	now := creditNow()
	key := "agent_credit:" + orderID + "/capture"
	settled, err := settleCredit(tx, reserve, MoveCapture, now)
	if err != nil {
		return Payment{}, err
	}
	if !settled {
		return paymentByKey(tx, key)
	}
	res := tx.Exec("UPDATE tmf_credit_accounts SET reserved = reserved - ?, used = used + ?, updated_at = ? WHERE agent_id = ? AND reserved >= ?",
		reserve.Amount, reserve.Amount, now, reserve.AgentID, reserve.Amount)
	if err := mustMove(res, "capture credit", orderID); err != nil {
		return Payment{}, err
	}
	pay := Payment{ID: newID("pay"), OrderID: orderID, Method: MethodAgentCredit, Kind: KindCharge, IdemKey: key,
		Amount: reserve.Amount, Currency: reserve.Currency, State: StateSucceeded, ProcessorRef: orderID + "/settle",
		Attempts: 1, CreatedAt: now, UpdatedAt: now}
	if err := insertPayment(tx, &pay); err != nil {
		return Payment{}, err
	}
	inserted, err := dbutil.InsertOnce(tx, &Balance{OrderID: orderID, Currency: pay.Currency, ChargeID: pay.ID,
		Method: MethodAgentCredit, Captured: pay.Amount, UpdatedAt: now})
	if err != nil {
		return Payment{}, fmt.Errorf("payment: capture credit of order %s: balance: %w", orderID, err)
	}
	if !inserted {
		res := tx.Exec("UPDATE tmf_payment_balances SET charge_id = ?, method = ?, captured = captured + ?, updated_at = ? "+
			"WHERE order_id = ? AND charge_id = '' AND currency = ?", pay.ID, MethodAgentCredit, pay.Amount, now, orderID, pay.Currency)
		if res.Error != nil {
			return Payment{}, fmt.Errorf("payment: capture credit of order %s: balance: %w", orderID, res.Error)
		}
		if res.RowsAffected != 1 {
			return Payment{}, heldError(ctx, tx, orderID, pay.Currency)
		}
	}
	return pay, nil
}

// ReleaseCredit gives an unpaid order's reserved credit back to the agent
// (reserved → available) when the order is cancelled or times out before
// payment. Releasing again, or releasing an order that reserved no credit,
// does nothing; releasing a captured reservation is a
// *CreditReservationError (refund it instead). It must run inside the
// order's transaction.
func ReleaseCredit(ctx context.Context, tx *gorm.DB, orderID string) error {
	tx = tx.WithContext(ctx)
	reserve, err := reservation(tx, orderID, "release")
	var none *CreditReservationError
	if errors.As(err, &none) && none.State == ReservationNone {
		return nil
	}
	if err != nil {
		return err
	}
	now := creditNow()
	settled, err := settleCredit(tx, reserve, MoveRelease, now)
	if err != nil || !settled {
		return err
	}
	res := tx.Exec("UPDATE tmf_credit_accounts SET reserved = reserved - ?, available = available + ?, updated_at = ? WHERE agent_id = ? AND reserved >= ?",
		reserve.Amount, reserve.Amount, now, reserve.AgentID, reserve.Amount)
	return mustMove(res, "release credit", orderID)
}

// RefundCredit gives amount of a paid order back to the agent's credit
// (used → available), under key: when a paid order is cancelled (the whole
// amount) or goods are returned (part of it). The order's balance takes it
// with the conditional update refunded + amount <= captured, so refunds
// never exceed what was captured: *RefundExceedsError otherwise. It records
// a succeeded agent_credit refund in tmf_payments under key and returns it;
// the same key again returns it and moves nothing (another amount is a
// *KeyConflictError). An order whose credit was not captured is a
// *CreditReservationError. It must run inside the order's transaction.
func RefundCredit(ctx context.Context, tx *gorm.DB, orderID, key string, amount int64) (Payment, error) {
	if err := firstErr(checkID("orderId", orderID, maxOrderID), checkID("key", key, maxKey), checkAmount(amount)); err != nil {
		return Payment{}, err
	}
	moveKey := orderID + "/refund/" + key
	if err := checkID("key", moveKey, maxKey); err != nil {
		return Payment{}, &InvalidRequestError{Field: "key", Reason: fmt.Sprintf("with the order id, longer than %d bytes", maxKey)}
	}
	tx = tx.WithContext(ctx)
	reserve, err := reservation(tx, orderID, "refund")
	if err != nil {
		return Payment{}, err
	}
	settle, found, err := creditMove(tx, orderID+"/settle")
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund credit of order %s: %w", orderID, err)
	}
	switch {
	case !found:
		return Payment{}, &CreditReservationError{OrderID: orderID, State: ReservationReserved, Op: "refund"}
	case settle.Kind != MoveCapture:
		return Payment{}, &CreditReservationError{OrderID: orderID, State: ReservationReleased, Op: "refund"}
	}
	now := creditNow()
	move := CreditMove{MoveKey: moveKey, AgentID: reserve.AgentID, OrderID: orderID, Kind: MoveRefund,
		Amount: amount, Currency: reserve.Currency, CreatedAt: now}
	inserted, err := dbutil.InsertOnce(tx, &move)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund credit of order %s: %w", orderID, err)
	}
	if !inserted {
		pay, err := paymentByKey(tx, key)
		if err != nil {
			return Payment{}, err
		}
		if pay.Amount != amount || pay.OrderID != orderID || pay.Kind != KindRefund {
			return Payment{}, &KeyConflictError{Key: key, PaymentID: pay.ID}
		}
		return pay, nil
	}
	res := tx.Exec("UPDATE tmf_payment_balances SET refunded = refunded + ?, updated_at = ? "+
		"WHERE order_id = ? AND method = ? AND refunded + ? <= captured", amount, now, orderID, MethodAgentCredit, amount)
	if res.Error != nil {
		return Payment{}, fmt.Errorf("payment: refund credit of order %s: balance: %w", orderID, res.Error)
	}
	if res.RowsAffected != 1 {
		bal, err := OrderBalance(ctx, tx, orderID)
		if err != nil {
			return Payment{}, err
		}
		return Payment{}, &RefundExceedsError{OrderID: orderID, Requested: amount, Refundable: max(bal.Refundable(), 0)}
	}
	res = tx.Exec("UPDATE tmf_credit_accounts SET used = used - ?, available = available + ?, updated_at = ? WHERE agent_id = ? AND used >= ?",
		amount, amount, now, reserve.AgentID, amount)
	if err := mustMove(res, "refund credit", orderID); err != nil {
		return Payment{}, err
	}
	pay := Payment{ID: newID("pay"), OrderID: orderID, Method: MethodAgentCredit, Kind: KindRefund, IdemKey: key,
		Amount: amount, Currency: reserve.Currency, State: StateSucceeded, ProcessorRef: moveKey,
		Attempts: 1, CreatedAt: now, UpdatedAt: now}
	if err := insertPayment(tx, &pay); err != nil {
		return Payment{}, err
	}
	return pay, nil
}

// reservation returns the order's reserve move, or a
// *CreditReservationError in state none for op.
func reservation(tx *gorm.DB, orderID, op string) (CreditMove, error) {
	if err := checkID("orderId", orderID, maxOrderID); err != nil {
		return CreditMove{}, err
	}
	m, found, err := creditMove(tx, orderID+"/reserve")
	if err != nil {
		return CreditMove{}, fmt.Errorf("payment: %s credit of order %s: %w", op, orderID, err)
	}
	if !found {
		return CreditMove{}, &CreditReservationError{OrderID: orderID, State: ReservationNone, Op: op}
	}
	return m, nil
}

// settleCredit writes the order's settle move of kind (capture or
// release): true when this call wrote it, false when it already existed
// with the same kind, *CreditReservationError when with the other.
func settleCredit(tx *gorm.DB, reserve CreditMove, kind string, now time.Time) (bool, error) {
	move := CreditMove{MoveKey: reserve.OrderID + "/settle", AgentID: reserve.AgentID, OrderID: reserve.OrderID,
		Kind: kind, Amount: reserve.Amount, Currency: reserve.Currency, CreatedAt: now}
	inserted, err := dbutil.InsertOnce(tx, &move)
	if err != nil {
		return false, fmt.Errorf("payment: %s credit of order %s: %w", kind, reserve.OrderID, err)
	}
	if inserted {
		return true, nil
	}
	old, found, err := creditMove(tx, move.MoveKey)
	if err != nil || !found {
		return false, fmt.Errorf("payment: %s credit of order %s: move %s: found %v: %w", kind, reserve.OrderID, move.MoveKey, found, err)
	}
	if old.Kind == kind {
		return false, nil
	}
	state := ReservationCaptured
	if old.Kind == MoveRelease {
		state = ReservationReleased
	}
	return false, &CreditReservationError{OrderID: reserve.OrderID, State: state, Op: kind}
}

func creditMove(tx *gorm.DB, key string) (CreditMove, bool, error) {
	var m CreditMove
	err := tx.Where("move_key = ?", key).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return CreditMove{}, false, nil
	}
	if err != nil {
		return CreditMove{}, false, err
	}
	m.CreatedAt = dbutil.Stamp(m.CreatedAt)
	return m, true, nil
}

// mustMove checks a conditional update that the moves make certain: the
// order's own reservation (or capture) covers it, so zero rows means the
// account and its ledger disagree.
func mustMove(res *gorm.DB, what, orderID string) error {
	if res.Error != nil {
		return fmt.Errorf("payment: %s of order %s: %w", what, orderID, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("payment: %s of order %s: the credit account does not cover its own ledger", what, orderID)
	}
	return nil
}

// insertPayment inserts a settled payment; its key already taken by
// another payment is a *KeyConflictError.
func insertPayment(tx *gorm.DB, pay *Payment) error {
	ok, err := dbutil.InsertOnce(tx, pay)
	if err != nil {
		return fmt.Errorf("payment: record payment of order %s: %w", pay.OrderID, err)
	}
	if !ok {
		old, err := paymentByKey(tx, pay.IdemKey)
		if err != nil {
			return err
		}
		return &KeyConflictError{Key: pay.IdemKey, PaymentID: old.ID}
	}
	return nil
}

func paymentByKey(tx *gorm.DB, key string) (Payment, error) {
	var out Payment
	if err := tx.Where("idem_key = ?", key).Take(&out).Error; err != nil {
		return Payment{}, fmt.Errorf("payment: payment of key %q: %w", key, err)
	}
	stampPayment(&out)
	return out, nil
}

// heldError explains why an order's charge slot could not be taken.
func heldError(ctx context.Context, tx *gorm.DB, orderID, currency string) error {
	bal, err := OrderBalance(ctx, tx, orderID)
	if err != nil {
		return err
	}
	if bal.Currency != currency {
		return &CurrencyMismatchError{Want: bal.Currency, Got: currency}
	}
	holder, err := paymentByID(tx, bal.ChargeID)
	if err != nil {
		return fmt.Errorf("payment: order %s: %w", orderID, err)
	}
	if holder.State == StatePending {
		return &InProgressError{OrderID: orderID, PaymentID: holder.ID, Key: holder.IdemKey}
	}
	return &AlreadyPaidError{OrderID: orderID, PaymentID: holder.ID}
}

func creditNow() time.Time { return dbutil.Stamp(time.Now()) }
