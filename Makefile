# The whole suite runs with the race detector; .ci/run calls `make test`.
GO ?= go

.PHONY: test bench vet docs

test:
	$(GO) test -race -count=1 -timeout 30m ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

vet:
	$(GO) vet ./...

# Regenerates docs/extension-points.md from the live catalogue, and the
# event catalogue in docs/events.md and docs/asyncapi.yaml from platform/events.
docs:
	TMF_UPDATE_DOCS=1 $(GO) test -count=1 -run TestExtensionPointCatalogueDoc ./platform/catalog/
	TMF_UPDATE_DOCS=1 $(GO) test -count=1 -run 'TestEventsDoc|TestAsyncAPIDoc' ./platform/events/
