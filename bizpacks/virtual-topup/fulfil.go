package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/tmf-platform/tmf/bizpacks/virtual-topup/supplier"
	"github.com/tmf-platform/tmf/extensions"
)

// Environment of the bizpack (its entry's env in the server's
// configuration: a bizpack gets none of the server's environment).
const (
	// EnvSupplierURL is the top-up supplier's base URL.
	EnvSupplierURL = "TOPUP_SUPPLIER_URL"
	// EnvSupplierName is the supplier's name on the platform, which its
	// signed callbacks use (default topup-sandbox).
	EnvSupplierName = "TOPUP_SUPPLIER_NAME"
)

// Supplier talks to the top-up supplier over HTTP.
type Supplier struct {
	Name   string
	URL    string
	Client *http.Client
}

// supplierFromEnv reads the supplier's settings from the environment.
func supplierFromEnv() *Supplier {
	name := os.Getenv(EnvSupplierName)
	if name == "" {
		name = "topup-sandbox"
	}
	return &Supplier{Name: name, URL: os.Getenv(EnvSupplierURL), Client: &http.Client{Timeout: 5 * time.Second}}
}

// Dispatch is the bizpack's fulfilment.dispatch: it asks the supplier to
// top up the order's phone number with the order's total, the order id as
// the request id (the supplier answers a repeated request with what the
// first became, so a retry never tops up twice). done is fulfilled,
// accepted is pending (the supplier calls back), rejected is rejected; a
// supplier that cannot be reached or answers 5xx is transient.
func (s *Supplier) Dispatch(ctx context.Context, req extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
	phone, _ := req.Attributes["phone"].(string)
	if phone == "" {
		return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentRejected, Reason: "the order has no phone number"}, nil
	}
	body, _ := json.Marshal(supplier.TopupRequest{RequestID: req.OrderID, Phone: phone, Amount: req.Total.Amount, Currency: req.Total.Currency})
	return s.call(ctx, http.MethodPost, "/v1/topups", body)
}

// Query is the bizpack's fulfilment.query: what became of the order's
// top-up. A top-up the supplier does not know (yet) is pending.
func (s *Supplier) Query(ctx context.Context, req extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
	return s.call(ctx, http.MethodGet, "/v1/topups/"+url.PathEscape(req.OrderID), nil)
}

func (s *Supplier) call(ctx context.Context, method, path string, body []byte) (extensions.FulfilmentAnswer, error) {
	transient := func(format string, args ...any) (extensions.FulfilmentAnswer, error) {
		return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentTransient, Supplier: s.Name, Reason: fmt.Sprintf(format, args...)}, nil
	}
	if s.URL == "" {
		return transient("%s is not set in the bizpack's env", EnvSupplierURL)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return extensions.FulfilmentAnswer{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(hreq)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return extensions.FulfilmentAnswer{}, ctx.Err()
		}
		return transient("the supplier did not answer: %v", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound && method == http.MethodGet:
		return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentPending, Supplier: s.Name}, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return transient("the supplier answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentRejected, Supplier: s.Name,
			Reason: "the supplier refused the request: " + resp.Status}, nil
	}
	var t supplier.Topup
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&t); err != nil {
		return transient("the supplier's answer does not decode: %v", err)
	}
	ans := extensions.FulfilmentAnswer{Supplier: s.Name, Reference: t.Reference, Reason: t.Reason}
	switch t.Status {
	case supplier.StatusDone:
		ans.Outcome = extensions.FulfilmentFulfilled
	case supplier.StatusRejected:
		ans.Outcome = extensions.FulfilmentRejected
	case supplier.StatusAccepted:
		ans.Outcome = extensions.FulfilmentPending
	default:
		return transient("the supplier answered status %q", t.Status)
	}
	return ans, nil
}
