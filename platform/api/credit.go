package api

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
)

// RecentCreditMoves is how many of an account's latest moves a credit
// answer lists.
const RecentCreditMoves = 50

// CreditRequest is the body of PUT /v1/admin/credit/{agent}.
type CreditRequest struct {
	Currency *string `json:"currency"`
	// Limit in minor units of Currency; at least what the agent has in use.
	Limit *int64 `json:"limit"`
}

// CreditView is an agent's credit line: limit = available + reserved +
// used, and its latest moves, newest first.
type CreditView struct {
	Account     payment.AgentCredit  `json:"account"`
	RecentMoves []payment.CreditMove `json:"recentMoves"`
}

func agentParam(c echo.Context) (string, error) {
	agent := c.Param("agent")
	if !principalPattern.MatchString(agent) {
		return "", invalidField("agent", "an agent is a principal id: 1 to 128 of A-Z a-z 0-9 . _ @ : -")
	}
	return agent, nil
}

// putCredit opens or changes an agent's credit line. A limit below what
// the agent has reserved and used is credit_limit_too_low.
func (s *Server) putCredit(c echo.Context) error {
	agent, err := agentParam(c)
	if err != nil {
		return err
	}
	var req CreditRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	switch {
	case req.Currency == nil || !currencyPattern.MatchString(*req.Currency):
		return invalidField("currency", "currency must be 3 uppercase letters (ISO 4217)")
	case req.Limit == nil:
		return invalidField("limit", "limit is required, in minor units")
	case *req.Limit < 0:
		return invalidField("limit", "limit %d is negative", *req.Limit)
	}
	ctx := c.Request().Context()
	if err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		var before any // nil: the line is opened
		switch cur, err := payment.CreditAccount(ctx, tx, agent); {
		case err == nil:
			before = cur
		case !errors.As(err, new(*payment.CreditAccountNotFoundError)):
			return err
		}
		after, err := payment.SetCreditLimit(ctx, tx, agent, *req.Currency, *req.Limit)
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionCreditWrite, createdOr(before), auditCredit, agent, before, after)
	}); err != nil {
		return err
	}
	return s.answerCredit(c, agent)
}

func (s *Server) getCredit(c echo.Context) error {
	agent, err := agentParam(c)
	if err != nil {
		return err
	}
	return s.answerCredit(c, agent)
}

// getOwnCredit answers the calling agent's own credit line.
func (s *Server) getOwnCredit(c echo.Context) error {
	return s.answerCredit(c, principalOf(c).ID)
}

func (s *Server) answerCredit(c echo.Context, agent string) error {
	v, err := s.credit(c.Request().Context(), agent)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) credit(ctx context.Context, agent string) (CreditView, error) {
	db := s.store.DB(ctx)
	acct, err := payment.CreditAccount(ctx, db, agent)
	if err != nil {
		return CreditView{}, err
	}
	moves, err := payment.CreditMoves(ctx, db, agent)
	if err != nil {
		return CreditView{}, err
	}
	moves = moves[max(0, len(moves)-RecentCreditMoves):]
	slices.Reverse(moves)
	if moves == nil {
		moves = []payment.CreditMove{}
	}
	return CreditView{Account: acct, RecentMoves: moves}, nil
}
