package order_test

import "github.com/tmf-platform/tmf/platform/events/eventstest"

// Every store the tests open is checked against the event catalogue when
// its test ends.
func init() { eventstest.Register() }
