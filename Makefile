# certflow — the two commands a newcomer needs are `make dev` and `make test`.

# The Temporal dev server is built from its Go module at a pinned version
# (later versions cannot be `go install`ed), once, into an ignored folder.
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL := .tools/bin/temporal

# The production-shaped stack (make cluster): the Temporal server and its
# schema tool at the first version with Worker Versioning, and the Web UI
# server at the version the CLI above bundles. Each binary is named for
# what it is: two of them are called "server" by their modules.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_UI_VERSION := v2.42.1
CLUSTER_BIN := .tools/cluster/bin
# BUILD_ID names a build for Worker Versioning (stamped into the worker by
# make build): the commit, unless given (the image tag, in a release).
BUILD_ID ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
CLUSTER_TOOLS := $(CLUSTER_BIN)/temporal-server $(CLUSTER_BIN)/temporal-sql-tool $(CLUSTER_BIN)/temporal-ui

.PHONY: dev demo test test-cluster fuzz temporal build generate bench bench-issuance bench-scratchcards bench-allocation bench-documents bench-webhooks bench-scaleout bench-waiting bench-history cluster cluster-tools postgres

## dev: run the Temporal dev server + Web UI, the provider emulators and the worker until Ctrl-C
dev: $(TEMPORAL)
	go build -o .tools/bin/certflow-dev ./cmd/certflow-dev
	.tools/bin/certflow-dev

## demo: the same stack, one issuance end to end, then stop (exit 0 on success)
demo: $(TEMPORAL)
	go build -o .tools/bin/certflow-dev ./cmd/certflow-dev
	.tools/bin/certflow-dev -demo

## test: formatting, vet, and every test (unit, emulator, end to end on a real dev server, then on the cluster stack)
test: $(TEMPORAL)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags cluster ./e2e/cluster
	go test -race -count=1 ./...
	$(MAKE) test-cluster

## test-cluster: the cluster end-to-end tests — 200 workflows through restarts, crashes and a versioned deploy on PostgreSQL
test-cluster: $(CLUSTER_BIN)/temporal-server $(CLUSTER_BIN)/temporal-sql-tool postgres
	go test -tags cluster -count=1 -v -timeout 30m ./e2e/cluster

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

## bench: issue 15's targets P1-P6 on their stacks (P3 on the cluster stack); prints the table the README carries
bench: $(TEMPORAL) $(CLUSTER_BIN)/temporal-server $(CLUSTER_BIN)/temporal-sql-tool postgres
	go build -o .tools/bin/ ./cmd/certflow-worker
	go run ./cmd/certflow-bench table

## bench-issuance: N issuances at once beside N bare SDK workflows of the same shape; prints both rates and their ratio
bench-issuance: $(TEMPORAL)
	go run ./cmd/certflow-bench issuance -n $(N)

## bench-allocation: scratchcard allocation alone, C at once on a fresh RA then again on its warm allocator, beside as many get_first_unused calls
C ?= 50,200
bench-allocation: $(TEMPORAL)
	go run ./cmd/certflow-bench allocation -c $(C)

## bench-documents: one issuance with 3 scans of 5 MiB through the payload store; prints the history bytes per document
bench-documents: $(TEMPORAL)
	go run ./cmd/certflow-bench documents

## bench-scaleout: N issuances on the cluster stack with 1 worker process, then 2; prints the throughput ratio and CPU by part
bench-scaleout: $(CLUSTER_BIN)/temporal-server $(CLUSTER_BIN)/temporal-sql-tool postgres
	go build -o .tools/bin/ ./cmd/certflow-worker
	go run ./cmd/certflow-bench scaleout -n $(N)

## bench-waiting: N workflows waiting on one worker process (cluster stack); prints its RSS, heap and idle CPU (CACHE sets its workflow cache)
CACHE ?= 0
bench-waiting: $(CLUSTER_BIN)/temporal-server $(CLUSTER_BIN)/temporal-sql-tool postgres
	go build -o .tools/bin/ ./cmd/certflow-worker
	go run ./cmd/certflow-bench waiting -n $(N) -cache $(CACHE)

## bench-history: one issuance's history events through a polled wait and 20 webhooks (duplicates included)
bench-history: $(TEMPORAL)
	go run ./cmd/certflow-bench history

## temporal: build the Temporal dev server into .tools/bin
temporal: $(TEMPORAL)

$(TEMPORAL):
	GOBIN=$(abspath .tools/bin) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## build: the worker, the CLI, the emulator and the dev stack into bin/
build:
	go build -ldflags "-X github.com/certflow/certflow/worker.BuildID=$(BUILD_ID)" -o bin/ ./cmd/...

## generate: regenerate the Uanataca profile rules (from ../shared/providers/uanataca-ra-guide.md) and the JSON contract
generate:
	go generate ./internal/provider/uanataca/
	go run ./contract/internal/genschema

## cluster: the production-shaped stack — PostgreSQL, the Temporal server and Web UI, the emulators, two workers and an ingress — until Ctrl-C
cluster: cluster-tools postgres
	go build -o .tools/bin/ ./cmd/certflow-cluster ./cmd/certflow-worker
	.tools/bin/certflow-cluster

## cluster-tools: build the Temporal server, its SQL schema tool and the Web UI server into .tools/cluster/bin
cluster-tools: $(CLUSTER_TOOLS)

$(CLUSTER_BIN)/temporal-server:
	mkdir -p $(CLUSTER_BIN)/server.d
	GOBIN=$(abspath $(CLUSTER_BIN))/server.d go install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)
	mv $(CLUSTER_BIN)/server.d/server $@

$(CLUSTER_BIN)/temporal-sql-tool:
	mkdir -p $(CLUSTER_BIN)/sql.d
	GOBIN=$(abspath $(CLUSTER_BIN))/sql.d go install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(CLUSTER_BIN)/sql.d/sql $@

$(CLUSTER_BIN)/temporal-ui:
	mkdir -p $(CLUSTER_BIN)/ui.d
	GOBIN=$(abspath $(CLUSTER_BIN))/ui.d go install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv $(CLUSTER_BIN)/ui.d/server $@

## postgres: install Debian's PostgreSQL server when it is missing (needs root, as CI runs)
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
