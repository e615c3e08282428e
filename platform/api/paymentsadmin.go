package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/order"
)

// Function-level actions of the payments admin endpoints.
const (
	ActionPaymentsAudit = "admin.payments.audit"
	ActionPaymentsRead  = "admin.payments.read"
	ActionPaymentsRetry = "admin.payments.retry"
)

// maxFailedRefundsPage bounds one page of failed refunds.
const maxFailedRefundsPage = 500

// MoneyAuditView answers GET /v1/admin/payments/audit.
type MoneyAuditView struct {
	// Clean is true when no problem was found.
	Clean bool `json:"clean"`
	order.MoneyAudit
}

// auditMoney checks the money invariant of every order (captured −
// refunded = what it owes; one kept capture; no unresolved attempt; no
// refund failed without a retry), in one read-only snapshot like the
// stock audit. It reads the whole ledger: an operator's tool, not
// something to poll.
func (s *Server) auditMoney(c echo.Context) error {
	ctx := c.Request().Context()
	var out order.MoneyAudit
	err := readSnapshot(ctx, s.store, func(tx *gorm.DB) error {
		var err error
		out, err = order.AuditMoney(ctx, tx, time.Now())
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, MoneyAuditView{Clean: len(out.Problems) == 0, MoneyAudit: out})
}

// FailedRefundList answers GET /v1/admin/payments/refunds/failed.
type FailedRefundList struct {
	Refunds []payment.Payment `json:"refunds"`
	// Next is the cursor of the next page; empty at the end.
	Next string `json:"next,omitempty"`
}

// failedRefunds lists the card refunds the processor refused for good and
// that no retry replaced, oldest id first, with keyset paging
// (?after=ID&limit=N).
func (s *Server) failedRefunds(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFailedRefundsPage {
			return invalidField("limit", "limit is a whole number from 1 to %d", maxFailedRefundsPage)
		}
		limit = n
	}
	after := c.QueryParam("after")
	if len(after) > 64 {
		return &Problem{Code: CodeInvalidCursor, Detail: "after is a payment id"}
	}
	refunds, err := s.svc.FailedRefunds(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	out := FailedRefundList{Refunds: refunds}
	if len(refunds) > limit {
		out.Refunds = refunds[:limit]
		out.Next = refunds[limit-1].ID
	}
	if out.Refunds == nil {
		out.Refunds = []payment.Payment{}
	}
	return c.JSON(http.StatusOK, out)
}

// retryPayment owes again a refund the processor refused for good: a new
// refund of the same charge and amount, paid by payment recovery. The
// answer is the new refund (pending); retrying the same failed refund
// again answers the same retry. Audited.
func (s *Server) retryPayment(c echo.Context) error {
	id := c.Param("id")
	if id == "" || len(id) > 64 {
		return &Problem{Code: order.CodePaymentNotFound, Detail: "payment not found"}
	}
	ctx := c.Request().Context()
	pay, err := s.svc.RetryRefund(ctx, id)
	if err != nil {
		return err
	}
	s.audit(c, ActionPaymentsRetry, "retry", "payment", id, nil, pay)
	return c.JSON(http.StatusCreated, pay)
}
