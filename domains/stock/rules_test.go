package stock_test

import "testing"

// The scenarios of testdata/*.json: sequences of operations with the
// exact slot quantities, settings, parts and refusals expected after each.

func TestOrderFlow(t *testing.T) { t.Parallel(); runScenarios(t, "testdata/orders.json") }

func TestChannels(t *testing.T) { t.Parallel(); runScenarios(t, "testdata/channels.json") }

func TestBuckets(t *testing.T) { t.Parallel(); runScenarios(t, "testdata/buckets.json") }
