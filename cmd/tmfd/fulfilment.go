package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

// fulfiller makes the supplier fulfilment service of the server: its
// worker runs on every node (rows are leased), and its callbacks verify
// with the secrets of --fulfilment-suppliers. The file is read once at
// start; secrets are never taken from the command line, where every local
// user could read them.
func fulfiller(svc *order.Service, k *kernel.Kernel, st *store.Store, o serveOptions, reg prometheus.Registerer, log *slog.Logger) (*fulfilment.Service, error) {
	suppliers := map[string]string{}
	if o.FulfilmentSuppliersFile != "" {
		b, err := os.ReadFile(o.FulfilmentSuppliersFile)
		if err != nil {
			return nil, fmt.Errorf("--fulfilment-suppliers: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&suppliers); err != nil {
			return nil, fmt.Errorf("--fulfilment-suppliers %s: want a JSON object of supplier name → secret: %w", o.FulfilmentSuppliersFile, err)
		}
	}
	f, err := fulfilment.New(svc, k, st, fulfilment.Options{Suppliers: suppliers, Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("--fulfilment-suppliers: %w", err)
	}
	return f, nil
}
