GO ?= go

.PHONY: run test build vet bench bench-smoke soak js-test js-bundle fuzz fuzz-smoke staticcheck tidy-check

# Run a node on the embedded store (./data), in development mode.
run:
	$(GO) run ./cmd/presenced --dev

# Every test, with the race detector, plus vet, staticcheck, formatting,
# go.mod tidiness and a short run of every fuzz target.
test: tidy-check staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(MAKE) fuzz-smoke
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	cd third_party/nbio && $(GO) vet . && $(GO) test -race -count=1 .
	$(MAKE) js-test

# The JavaScript SDK (clients/js): type checks, the committed bundle equal to
# a fresh build and within its size budget, unit tests, Node tests against a
# real presenced and end-to-end tests in headless Chromium (docs/sdk.md).
js-test: clients/js/node_modules/.package-lock.json
	cd clients/js && npm run --silent typecheck
	cd clients/js && node scripts/check-bundle.mjs
	cd clients/js && npx vitest run

# Rebuild the committed bundle after changing clients/js/src.
js-bundle: clients/js/node_modules/.package-lock.json
	cd clients/js && npm run --silent build

clients/js/node_modules/.package-lock.json: clients/js/package-lock.json
	cd clients/js && npm ci --no-audit --no-fund

build:
	$(GO) build -o bin/ ./cmd/...

# The load suite (bench/README.md): builds the server and the load tool,
# starts a fresh presenced on a free 127.0.0.1 port for each run, runs every
# scenario BENCH_RUNS times and prints the medians. About 8 minutes with 3
# runs; not part of `make test`.
BENCH_RUNS ?= 3
bench:
	$(GO) build -o bin/ ./cmd/presenced ./cmd/presenced-bench
	bin/presenced-bench suite --server-bin bin/presenced --runs $(BENCH_RUNS) --out bin/bench-results.jsonl

# The same suite at a small size, once: checks that every scenario runs.
bench-smoke:
	$(GO) build -o bin/ ./cmd/presenced ./cmd/presenced-bench
	bin/presenced-bench suite --server-bin bin/presenced --size quick --runs 1

# The soak (docs/reliability.md): a mixed workload for SOAK_DURATION on one
# node on the embedded store, then on three nodes over a 3-master Redis
# Cluster, each with a node restart; checks that nothing fails that should
# not and that every node returns to its footprint. Not part of `make test`.
SOAK_DURATION ?= 10m
soak:
	PRESENCED_SOAK=1 PRESENCED_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -run Soak -v -timeout 60m ./internal/multinode

# staticcheck, pinned (.ci/run installs this version on a fresh machine).
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $$($(GO) env GOPATH)/bin/staticcheck)
staticcheck:
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

# go.mod and go.sum must be what `go mod tidy` makes of them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# The fuzz targets, as package:target. Seed corpora are under each
# package's testdata/fuzz; plain `go test` runs them as tests.
FUZZ_TARGETS = ./wsconn:FuzzFrames ./gateway:FuzzClientMessage ./httpapi:FuzzBulkBody \
	./presence:FuzzRecordCodec ./auth:FuzzVerify ./auth:FuzzParseJWKS
FUZZTIME ?= 30s

# Each fuzz target for FUZZTIME (default 30s each; not part of make test).
fuzz:
	.ci/fuzz $(FUZZTIME) $(FUZZ_TARGETS)

# Each fuzz target briefly, for make test and CI.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=2s
