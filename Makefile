# certflow — the two commands a newcomer needs are `make dev` and `make test`.

# The Temporal dev server is built from its Go module at a pinned version
# (later versions cannot be `go install`ed), once, into an ignored folder.
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL := .tools/bin/temporal

.PHONY: dev demo test fuzz temporal build generate bench-scratchcards bench-webhooks

## dev: run the Temporal dev server + Web UI, the provider emulators and the worker until Ctrl-C
dev: $(TEMPORAL)
	go build -o .tools/bin/certflow-dev ./cmd/certflow-dev
	.tools/bin/certflow-dev

## demo: the same stack, one issuance end to end, then stop (exit 0 on success)
demo: $(TEMPORAL)
	go build -o .tools/bin/certflow-dev ./cmd/certflow-dev
	.tools/bin/certflow-dev -demo

## test: formatting, vet, and every test (unit, emulator, end to end on a real dev server)
test: $(TEMPORAL)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go test -race -count=1 ./...

## fuzz: each webhook and workflow-input fuzz target for FUZZTIME (CI runs it briefly)
FUZZTIME ?= 15s
fuzz:
	for target in FuzzParseUanataca FuzzParseHumanos FuzzIngress; do \
		go test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) ./internal/webhook/ || exit 1; \
	done
	for target in FuzzUanatacaInput FuzzUniversignInput FuzzMasStackInput FuzzHumanosInput; do \
		go test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) ./workflows/ || exit 1; \
	done

## bench-webhooks: N webhooks at the ingress for waiting issuances, beside direct SignalWorkflow calls
bench-webhooks: $(TEMPORAL)
	go run ./cmd/certflow-bench webhooks -n $(N)

## bench-scratchcards: N issuances at once on one RA; prints issuances/s and allocation latency p50/p99
N ?= 100
bench-scratchcards: $(TEMPORAL)
	go run ./cmd/certflow-bench -n $(N)

## temporal: build the Temporal dev server into .tools/bin
temporal: $(TEMPORAL)

$(TEMPORAL):
	GOBIN=$(abspath .tools/bin) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## build: the worker, the CLI, the emulator and the dev stack into bin/
build:
	go build -o bin/ ./cmd/...

## generate: regenerate the Uanataca profile rules (from ../shared/providers/uanataca-ra-guide.md) and the JSON contract
generate:
	go generate ./internal/provider/uanataca/
	go run ./contract/internal/genschema
