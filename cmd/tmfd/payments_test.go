package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The server's payments count every refund the processor refuses for good
// and derive the lease and the retry grace from the call deadline.
func TestPaymentsCountFailedRefunds(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	reg := prometheus.NewRegistry()
	pays := payments(st.DB(t.Context()), 2*time.Second, nil, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if pays.CallTimeout != 2*time.Second || pays.Lease != 6*time.Second || pays.RetryAfter != 6*time.Second {
		t.Fatalf("timings %v %v %v", pays.CallTimeout, pays.Lease, pays.RetryAfter)
	}
	pays.OnRefundFailed(payment.Payment{ID: "pay_1", OrderID: "o1", Amount: 100, Currency: "CNY"})
	pays.OnRefundFailed(payment.Payment{ID: "pay_2", OrderID: "o2", Amount: 100, Currency: "CNY"})
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "tmf_payment_refunds_failed_total" {
		t.Fatalf("metrics %v, %v", mfs, err)
	}
	if v := mfs[0].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Fatalf("failed refunds counted %v, want 2", v)
	}
}
