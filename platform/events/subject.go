package events

import "strings"

// SubjectPrefix starts the NATS subject of every event.
const SubjectPrefix = "tmf.events."

// Subject is the NATS JetStream subject an event is published on:
// "tmf.events." + type + "." + bizCode, the bizCode "_" when the event has
// none. A type has exactly one dot, so the subject's tokens are tmf,
// events, the type's area and name, then the identity's own dotted tokens:
// "tmf.events.order.paid.retail.shoes". Consumers filter with wildcards:
// tmf.events.order.> (every order event), tmf.events.*.*.retail.> (every
// event of retail and its children), tmf.events.stock.low.* (stock.low,
// which has no identity: "_"). Characters NATS gives a meaning in subjects
// (space, tab, "*", ">") and empty tokens become "_".
func Subject(e CloudEvent) string {
	return SubjectWith(strings.TrimSuffix(SubjectPrefix, "."), e)
}

// SubjectWith is Subject under another prefix (a deployment that shares
// one NATS account among several platforms): prefix + "." + type + "." +
// bizCode, by the same rule.
func SubjectWith(prefix string, e CloudEvent) string {
	biz := e.BizCode
	if biz == "" {
		biz = "_"
	}
	return prefix + "." + token(e.Type) + "." + token(biz)
}

func token(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		p = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n', '*', '>':
				return '_'
			}
			return r
		}, p)
		if p == "" {
			p = "_"
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}
