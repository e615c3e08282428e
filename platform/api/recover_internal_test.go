package api

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// A panic, an unknown error and echo's own 404 and 405 are problems too;
// internals reach the log, never the client.
func TestFailuresAreProblems(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	var logs bytes.Buffer
	s := New(Config{Service: &order.Service{}, Store: st, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	s.echo.GET("/boom", func(echo.Context) error { panic("secret panic value") })
	s.echo.GET("/oops", func(echo.Context) error { return errors.New("dial tcp 10.0.0.7:5432: secret dsn") })
	s.echo.GET("/late", func(c echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("after the answer began")
	})

	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/boom", 500, CodeInternal},
		{"GET", "/oops", 500, CodeInternal},
		{"GET", "/nowhere", 404, CodeNotFound},
		{"DELETE", "/v1/orders", 405, CodeMethodNotAllowed},
		{"PATCH", "/healthz", 405, CodeMethodNotAllowed},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			var p map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("%d %q: %v", w.Code, w.Body, err)
			}
			if w.Code != tc.status || w.Header().Get("Content-Type") != ProblemContentType || p["code"] != tc.code ||
				p["status"] != float64(tc.status) || p["type"] != ProblemTypeBase+tc.code || w.Header().Get(HeaderRequestID) == "" {
				t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("internals leaked: %s", w.Body)
			}
			if tc.status == 405 && w.Header().Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/late", nil))
	if w.Code != 200 || w.Body.String() != "partial" {
		t.Fatalf("an error after the answer began rewrote it: %d %q", w.Code, w.Body)
	}
	for _, want := range []string{"secret panic value", "recover_internal_test.go", "secret dsn", "after the answer began"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// A request that meets a database which cannot serve is answered 503
// unavailable with Retry-After, never 500.
func TestDatabaseUnavailableIs503(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	s := New(Config{Service: &order.Service{}, Store: st})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/me", "/v1/orders/o-1"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer some-token")
		s.Handler().ServeHTTP(w, r)
		var p map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%d %q: %v", w.Code, w.Body, err)
		}
		if w.Code != 503 || p["code"] != CodeUnavailable || w.Header().Get("Retry-After") != "2" ||
			w.Header().Get("Content-Type") != ProblemContentType {
			t.Errorf("GET %s with the database closed: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
	}
}

// problemOf maps every kind of error the services return to its code.
func TestProblemOf(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{&order.Error{Code: order.CodeOutOfStock, Message: "x", Fields: map[string]any{"sku": "a"}}, order.CodeOutOfStock, 409},
		{&order.Error{Code: "something_new", Message: "x"}, CodeInternal, 500},
		{&kernel.ExtensionError{Point: "p", Impl: "i", Outcome: kernel.OutcomeTimeout, Cause: kernel.ErrDeadline}, kernel.CodeExtensionTimeout, 504},
		{&kernel.ExtensionError{Point: "p", Impl: "i", Outcome: kernel.OutcomePanic}, kernel.CodeExtensionFailed, 502},
		{&kernel.NoAnswerError{Point: "p"}, kernel.CodeNoAnswer, 502},
		{&kernel.DisabledError{Identity: "x"}, kernel.CodeIdentityDisabled, 422},
		{&stock.OutOfStockError{SKU: "a", Requested: 2}, order.CodeOutOfStock, 409},
		// A freight template's refusal inside the extension error is the address's fault.
		{&kernel.ExtensionError{Point: "delivery.freight", Impl: "i", Outcome: kernel.OutcomeError,
			Cause: fmt.Errorf("freight: %w", &delivery.NoRateError{Template: "t", Region: "CN-XZ"})}, order.CodeRegionNotServed, 422},
		{&order.Error{Code: order.CodePaymentDeclined, Message: "x"}, order.CodePaymentDeclined, 402},
		{&order.Error{Code: order.CodePaymentProcessor, Message: "x"}, order.CodePaymentProcessor, 503},
		{&order.Error{Code: order.CodeCouponUnavailable, Message: "x"}, order.CodeCouponUnavailable, 409},
		{&order.Error{Code: order.CodeInsufficientCredit, Message: "x"}, order.CodeInsufficientCredit, 409},
		{&order.Error{Code: order.CodeReturnInvalid, Message: "x"}, order.CodeReturnInvalid, 422},
		{fmt.Errorf("set: %w", &stock.ConflictError{SKU: "a"}), CodeStockConflict, 409},
		{fmt.Errorf("set: %w", stock.ErrInvalid), CodeInvalidRequest, 400},
		{&promotion.InvalidPromotionError{ID: "p"}, CodePromotionInvalid, 422},
		{&promotion.VersionConflictError{ID: "p", Expected: 1, Actual: 2}, order.CodeVersionConflict, 409},
		{&promotion.PromotionNotFoundError{ID: "p"}, CodePromotionNotFound, 404},
		{&promotion.CouponExistsError{Code: "c"}, CodeCouponExists, 409},
		{&promotion.CouponError{Code: "c", Reason: promotion.ReasonNotFound}, CodeCouponNotFound, 404},
		{&promotion.CouponError{Code: "c", Reason: promotion.ReasonUsed}, order.CodeCouponUnavailable, 409},
		{&promotion.CouponError{Code: "c", Reason: promotion.ReasonInvalid}, CodeInvalidRequest, 400},
		{&payment.CreditAccountNotFoundError{Agent: "a"}, CodeCreditAccountNotFound, 404},
		{&payment.CreditLimitError{Agent: "a"}, CodeCreditLimitTooLow, 409},
		{&payment.CurrencyMismatchError{Want: "CNY", Got: "USD"}, CodeCurrencyMismatch, 422},
		{&promotion.CurrencyMismatchError{PromotionID: "p"}, CodeCurrencyMismatch, 422},
		{&payment.InvalidRequestError{Field: "f"}, CodeInvalidRequest, 400},
		{store.ErrVersionConflict, order.CodeVersionConflict, 409},
		{store.ErrDuplicate, CodeConflict, 409},
		{store.ErrNotFound, CodeNotFound, 404},
		{echo.ErrNotFound, CodeNotFound, 404},
		{echo.ErrMethodNotAllowed, CodeMethodNotAllowed, 405},
		{errors.New("boom"), CodeInternal, 500},
		// A database that cannot serve, however the error reached the API.
		{fmt.Errorf("place: %w", store.ErrUnavailable), CodeUnavailable, 503},
		{fmt.Errorf("authenticate: %w", driver.ErrBadConn), CodeUnavailable, 503},
		{fmt.Errorf("store: create order: %w", &pgconn.PgError{Code: "57P01"}), CodeUnavailable, 503},
		{fmt.Errorf("store: create order: %w", &pgconn.PgError{Code: "53100"}), CodeUnavailable, 503},
		{&mysqldriver.MySQLError{Number: 1040}, CodeUnavailable, 503},
		{fmt.Errorf("store: get order: %w", context.DeadlineExceeded), CodeUnavailable, 503},
		{errors.New("store: create order: database or disk is full (13)"), CodeUnavailable, 503},
		// An extension's deadline stays the extension's.
		{&kernel.ExtensionError{Point: "p", Impl: "i", Outcome: kernel.OutcomeTimeout, Cause: context.DeadlineExceeded}, kernel.CodeExtensionTimeout, 504},
	} {
		p := problemOf(tc.err)
		if p.Code != tc.code || p.status() != tc.status {
			t.Errorf("%v → %s %d; want %s %d", tc.err, p.Code, p.status(), tc.code, tc.status)
		}
	}
	// The order's state cannot replace the problem's status member.
	var body map[string]any
	p := problemOf(&order.Error{Code: order.CodeEventNotAllowed, Message: "no",
		Fields: map[string]any{"status": "completed", "allowedEvents": []string{}}})
	if err := json.Unmarshal(p.body("t-1"), &body); err != nil {
		t.Fatal(err)
	}
	if body["status"] != float64(409) || body["orderStatus"] != "completed" || body["traceId"] != "t-1" {
		t.Fatalf("%v", body)
	}
}
