package catalog

import (
	"fmt"
	"strings"

	"github.com/tmf-platform/tmf/platform/kernel"
)

// Markdown renders the extension-point catalogue: every point of cat with
// its contract, reducer, failure policy, deadline and types, the platform
// default and the products of reg that bind it. docs/extension-points.md is
// this output; a test keeps the two equal.
func Markdown(cat *kernel.Catalogue, reg *kernel.Registry) string {
	defaults := map[string]kernel.ImplInfo{}
	for _, im := range reg.Implementations() {
		if im.Default {
			defaults[im.Point] = im
		}
	}
	bound := map[string][]string{}
	for _, p := range reg.Products() {
		for _, b := range p.Bindings {
			bound[b.Point] = append(bound[b.Point], fmt.Sprintf("`%s` (%s)", b.Impl, p.Name))
		}
	}
	var b strings.Builder
	b.WriteString(`# Extension-point catalogue

<!-- Generated from the kernel's catalogue by platform/catalog.Markdown.
     Do not edit: run "make docs" after changing a point. -->

Every extension point the platform declares. A point's **reducer** says how its
implementations combine, its **policy** what happens when one fails (errors,
panics and late answers alike), and its **deadline** how long one call of a
bizpack may take (platform defaults and products run in process to completion).
Implementations come from three layers, highest first: the bizpacks bound to the
business identity, its products by priority, the platform default. See
[kernel.md](kernel.md) for the precise rules.

Order attributes (protocol 1.2): the requests of the points that see an order
(` + "`ValidateRequest`, `PriceSheet`, `PromotionRequest`, `RouteRequest`,\n" +
		"`DeliveryRequest`, `PaymentMethodsRequest`, `GuardRequest`) carry its\n" +
		"`attributes`, validated against the identity's declarations (see\n" + `[bizpacks.md](bizpacks.md), "Order attributes"); an older host sends none.

| reducer | meaning |
| --- | --- |
| first | the highest implementation that does not skip decides |
| all-pass | every implementation must allow; the first veto wins, with its reason |
| pipeline | each implementation transforms the output of the one below, from the default up |
| collect | every implementation runs; results are gathered, highest first |

| policy | on failure |
| --- | --- |
| fail | the operation fails with an error naming the implementation |
| fallback | the failing implementation's whole layer is left out; the next layer down answers |
| skip | the failing implementation is left out |

## Summary

| point | reducer | policy | deadline | request → response |
| --- | --- | --- | --- | --- |
`)
	points := cat.Points()
	for _, p := range points {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | `%s` → `%s` |\n", p.Name, anchor(p.Name), p.Reducer, p.Policy, p.Deadline, p.Request, p.Response)
	}
	domain := ""
	for _, p := range points {
		if p.Domain != domain {
			domain = p.Domain
			fmt.Fprintf(&b, "\n## Domain `%s`\n", domain)
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", p.Name, p.Doc)
		fmt.Fprintf(&b, "- reducer: **%s**; policy: **%s**; deadline: **%s**\n", p.Reducer, p.Policy, p.Deadline)
		fmt.Fprintf(&b, "- request: %s; response: %s\n", typeLink(p.Request), typeLink(p.Response))
		if d, ok := defaults[p.Name]; ok {
			fmt.Fprintf(&b, "- platform default: `%s`: %s\n", d.Name, d.Doc)
		} else {
			b.WriteString("- platform default: none\n")
		}
		if impls := bound[p.Name]; len(impls) > 0 {
			fmt.Fprintf(&b, "- bound by built-in products: %s\n", strings.Join(impls, ", "))
		}
	}
	b.WriteString(typesMarkdown())
	return b.String()
}

func anchor(name string) string { return strings.ReplaceAll(name, ".", "") }
