package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/replica"
)

// HeaderConsistency carries the opaque consistency token: answered after
// every successful write when the server has read replicas (Config.Replicas),
// and accepted with GET /v1/orders and GET /v1/orders/{id}, whose answer
// then reflects at least that write even if another node serves it. A
// malformed token is ignored.
const HeaderConsistency = "X-TMF-Consistency"

// ReadLevelReplica is the X-TMF-Read-Level of an answer from a read
// replica of the order store.
const ReadLevelReplica = "replica"

// markWrites answers, when the server has read replicas, every successful
// write by an authenticated principal under /v1/ with a consistency token,
// after recording the principal's write marker (replica.Set.MarkWrite)
// that lets every node send that principal's reads to a replica only once
// it has the write. The marker is written before the status line, so a
// client that has the answer can read its write anywhere.
func (s *Server) markWrites(next echo.HandlerFunc) echo.HandlerFunc {
	if s.replicas == nil {
		return next
	}
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/v1/") {
			return next(c)
		}
		res := c.Response()
		res.Before(func() {
			p := principalOf(c)
			if p == nil || res.Status < 200 || res.Status > 299 {
				return
			}
			tok, err := s.replicas.MarkWrite(context.WithoutCancel(c.Request().Context()), p.ID)
			if err != nil {
				s.log.WarnContext(c.Request().Context(), "the write's read-your-writes marker was not recorded; its reads on other nodes rely on the consistency token",
					"traceId", traceID(c), "error", err)
				return
			}
			res.Header().Set(HeaderConsistency, tok)
		})
		return next(c)
	}
}

// storeRead runs a lag-tolerant read of the order store (a list, an order
// by id) on a replica when one has what the caller must see, else on the
// store, and says which answered in X-TMF-Read-Level.
func (s *Server) storeRead(c echo.Context, read func(ctx context.Context) error) error {
	h := c.Response().Header()
	if s.replicas == nil {
		h.Set(HeaderReadLevel, ReadLevelStore)
		return read(c.Request().Context())
	}
	id := ""
	if p := principalOf(c); p != nil {
		id = p.ID
	}
	level, err := s.replicas.Read(c.Request().Context(), id, c.Request().Header.Get(HeaderConsistency), read)
	if level == replica.LevelReplica {
		h.Set(HeaderReadLevel, ReadLevelReplica)
	} else {
		h.Set(HeaderReadLevel, ReadLevelStore)
	}
	return err
}

// storeList is a list from the order store (storeRead).
func (s *Server) storeList(c echo.Context, q order.Query) (order.Page, error) {
	var page order.Page
	err := s.storeRead(c, func(ctx context.Context) (err error) {
		page, err = s.svc.List(ctx, q)
		return err
	})
	return page, err
}

// storeGet is an order by id from the order store (storeRead).
func (s *Server) storeGet(c echo.Context, id string) (order.View, error) {
	var v order.View
	err := s.storeRead(c, func(ctx context.Context) (err error) {
		v, err = s.svc.Get(ctx, id)
		return err
	})
	return v, err
}
