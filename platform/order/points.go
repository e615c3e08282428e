// Package order is the platform's order service. The order itself (its
// validation and its lifecycle) belongs to the platform, not to a domain;
// this file declares the points that shape it.
package order

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Validate decides whether an order may be placed.
var Validate = kernel.DeclareAllPass[extensions.ValidateRequest](extensions.OrderValidate, kernel.Options{
	Doc: "Decides whether an order may be placed, before it is priced. Every implementation must allow; the first " +
		"veto wins and its code and reason reach the client. An implementation must not change anything.",
	Policy:   kernel.Fail,
	Deadline: 50 * time.Millisecond,
})

// Guard decides whether a lifecycle transition may happen.
var Guard = kernel.DeclareAllPass[extensions.GuardRequest](extensions.OrderGuard, kernel.Options{
	Doc: "Decides whether a lifecycle transition of an order may happen, before its state changes. Every " +
		"implementation must allow; the first veto wins, with its reason. Guards must not have side effects: those " +
		"belong to the transition's effects, which are compensated when a later step fails.",
	Policy:   kernel.Fail,
	Deadline: 50 * time.Millisecond,
})

// Points lists the order's extension points.
func Points() []kernel.Point { return []kernel.Point{Validate, Guard} }
