package api_test

import "github.com/tmf-platform/tmf/platform/events/eventstest"

// Every store the API tests open is checked against the event catalogue
// when its test ends: every event the journeys write must be declared and
// match its schema.
func init() { eventstest.Register() }
