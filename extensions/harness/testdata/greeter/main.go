// Command greeter is the harness's own test bizpack.
package main

import (
	"context"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

func newBizpack() *extensions.Bizpack {
	b := extensions.New(extensions.Manifest{Name: "greeter", Version: "0.1.0",
		Points: []extensions.PointTypes{{Point: extensions.OrderValidate}, {Point: extensions.PricingAdjust}}})
	extensions.Implement(b, extensions.OrderValidate, func(ctx context.Context, r extensions.ValidateRequest) (extensions.Verdict, error) {
		switch r.Buyer.ID {
		case "panic":
			panic("asked to")
		case "hang":
			<-time.After(time.Hour)
		case "skip":
			return extensions.Verdict{}, extensions.ErrSkip
		case "deny":
			return extensions.Deny("denied", "buyer "+r.Buyer.ID), nil
		}
		return extensions.Allow(), nil
	})
	extensions.Implement(b, extensions.PricingAdjust, func(ctx context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
		lines := make([]extensions.Line, len(s.Lines))
		for i, l := range s.Lines {
			l.UnitPrice -= 1
			lines[i] = l
		}
		s.Lines = lines
		return s, nil
	})
	return b
}

func main() { plugin.Serve(newBizpack()) }
