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

// Split gives each line of an order a split key (seller, delivery type…):
// lines of different keys are placed as sub-orders of one parent.
var Split = kernel.DeclareFirst[extensions.SplitRequest, extensions.Split](extensions.OrderSplit, kernel.Options{
	Doc: "Gives each line of an order about to be placed a split key, one per line in the request's order. Lines " +
		"with different keys become different sub-orders of one parent order (lines that ship from different " +
		"locations are split whatever the keys). No answer, or keys that are all equal, split nothing. An " +
		"implementation must not change anything.",
	Policy:   kernel.Fail,
	Deadline: 50 * time.Millisecond,
})

// Points lists the order's extension points.
func Points() []kernel.Point { return []kernel.Point{Validate, Guard, Split} }
