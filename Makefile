GO ?= go

.PHONY: run test build vet bench-smoke

# Run a node on the embedded store (./data), in development mode.
run:
	$(GO) run ./cmd/presenced --dev

# Every test, with the race detector, plus vet and formatting checks.
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...
	$(GO) test -race -count=1 -timeout 15m ./...

build:
	$(GO) build -o bin/ ./cmd/...
