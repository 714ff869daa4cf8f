# passhub — the two commands the README opens with are `make run` and `make test`.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 3s
BENCHRUNS ?= 6
# push-alls per store in make bench (each pushes 100,000 devices); benchstat needs 6 for a ± interval
FANOUTRUNS ?= 6

FUZZTIME  ?= 10s
# CI passes an execution count (e.g. 20000x): a time budget can end in a spurious
# "context deadline exceeded" from the fuzz coordinator on a loaded machine.

.PHONY: run build test fuzz bench lint fmt vet

## run: start passhub with the embedded defaults (SQLite + in-process Redis) on 127.0.0.1:8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/passhub serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/passhub ./cmd/passhub

## test: the whole suite, against the local PostgreSQL and Redis (see .ci/run to start them)
test:
	$(GO) test -count=1 -timeout 9m $(PKGS)

## fuzz: every fuzz target (webhook verifiers, mapping loader) for FUZZTIME each; CI runs it briefly
fuzz:
	@for f in FuzzShopify FuzzHubSpot FuzzSquare FuzzGeneric FuzzStandardWebhooks; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./connectors/verify/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./mappings/

## bench: throughput, each figure the median of several runs (benchstat; raw runs in bench/results/):
##   pass creations/s through the API (SQLite, PostgreSQL); .pkpass render+sign/s and cached-render
##   sign/s on 1 and 2 cores; an APNs "push all" over 100,000 registered devices through the worker's
##   path against the local APNs mock (SQLite, PostgreSQL; each store seeded once per run, ~1-2 min)
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	@mkdir -p bench/results
	@echo "cores: $$(nproc)"
	$(GO) test -run '^$$' -bench 'BenchmarkCreatePass' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/httpapi/ | tee bench/results/api.txt
	$(GO) test -run '^$$' -bench '^Benchmark(RenderAndSign|SignCached)$$' -cpu 1,2 -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/apple/ | tee bench/results/pkpass.txt
	$(GO) test -run '^$$' -bench '^BenchmarkAcceptTrigger$$' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/postgres/ ./adapters/sqlite/ | tee bench/results/intake.txt
	$(GO) test -run '^$$' -bench '^BenchmarkEvaluate$$' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./mappings/ | tee bench/results/mappings.txt
	$(GO) test -run '^$$' -bench '^BenchmarkTemplatePushFanout$$' -benchtime 1x -count $(FANOUTRUNS) -timeout 60m ./adapters/apple/ | tee bench/results/fanout.txt
	@echo "cores: $$(nproc)"
	$(GO) tool benchstat bench/results/api.txt
	$(GO) tool benchstat bench/results/pkpass.txt
	$(GO) tool benchstat bench/results/intake.txt
	$(GO) tool benchstat bench/results/mappings.txt
	$(GO) tool benchstat bench/results/fanout.txt

## lint: formatting and vet
lint: fmt vet
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
vet:
	$(GO) vet $(PKGS)
