# passhub — the two commands the README opens with are `make run` and `make test`.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 3s
BENCHRUNS ?= 6
# make bench: time per run of the microbenchmarks (signature verification and signing)
MICROTIME ?= 1s
# push-alls per store in make bench (each pushes 100,000 devices); benchstat needs 6 for a ± interval
FANOUTRUNS ?= 6
# make bench-peer: alternating rounds per side (passhub vs passkit-generator), BENCHTIME each
PEERROUNDS ?= 5
# make bench-load: concurrent clients measured, runs per figure (the median), time bound per run,
# passhub shapes (serve = API and workers as deployed; api = intake only)
LOADCONC  ?= 8,32,64,128
LOADRUNS  ?= 5
LOADTIME  ?= 5s
LOADMODE  ?= serve,api
# trigger → APNs push: open-loop webhook rates (comma list), runs per rate, stores (each its own passhub and
# JSON); updated serials: passes seeded (each with a registration), client concurrencies; idle RSS: runs
# (each a fresh embedded passhub)
APNSRATE  ?= 200,300,500
APNSRUNS  ?= 3
APNSSTORE ?= postgres,sqlite
SERIALSPASSES ?= 1000000
SERIALSCONC   ?= 1,4,16
RSSRUNS   ?= 3

FUZZTIME  ?= 10s
# CI passes an execution count (e.g. 20000x): a time budget can end in a spurious
# "context deadline exceeded" from the fuzz coordinator on a loaded machine.

.PHONY: run build test fuzz bench bench-report bench-load bench-peer lint fmt vet zapier-check

## run: start passhub with the embedded defaults (SQLite + in-process Redis) on 127.0.0.1:8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/passhub serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/passhub ./cmd/passhub

## test: the whole suite, against the local PostgreSQL and Redis (see .ci/run to start them)
test:
	$(GO) test -count=1 -timeout 9m $(PKGS)

## fuzz: every fuzz target (webhook verifiers, mapping loader, connector key expressions) for FUZZTIME each; CI runs it briefly
fuzz:
	@for f in FuzzShopify FuzzHubSpot FuzzSquare FuzzGeneric FuzzStandardWebhooks; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./connectors/verify/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./mappings/
	$(GO) test -run '^$$' -fuzz '^FuzzKeyExpression$$' -fuzztime $(FUZZTIME) ./connectors/

## bench: every figure of the harness, ending with ONE table (cmd/passhub-bench-report): each figure the
##   median (min–max) of its runs, issue 7's target and whether it is met, the core count, and the peer
##   figure from the same run (passhub ÷ passkit-generator). The go benchmarks: pass creations/s through
##   the API (SQLite, PostgreSQL); .pkpass render+sign/s and cached-render sign/s on 1 and 2 cores;
##   triggers stored durably/s; mapping evaluations/s; webhook signature verifications/s per verifier and
##   Google Wallet callback verifications/s; outbound webhook signatures/s; an APNs "push all" over
##   100,000 registered devices through the worker's path against the local APNs mock (SQLite,
##   PostgreSQL; each store seeded once per run, ~1-2 min); webhook deliveries/s of one event to 1,000
##   subscriptions on a local receiver through the job path. Then bench-load and bench-peer. Raw runs in
##   bench/results/*.txt (compare two with `go tool benchstat`), the table's rows in
##   bench/results/summary.json
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	@mkdir -p bench/results
	@echo "cores: $$(nproc)"
	$(GO) test -run '^$$' -bench 'BenchmarkCreatePass' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/httpapi/ | tee bench/results/api.txt
	$(GO) test -run '^$$' -bench '^Benchmark(RenderAndSign|SignCached)$$' -cpu 1,2 -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/apple/ | tee bench/results/pkpass.txt
	$(GO) test -run '^$$' -bench '^BenchmarkAcceptTrigger$$' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/postgres/ ./adapters/sqlite/ | tee bench/results/intake.txt
	$(GO) test -run '^$$' -bench '^BenchmarkEvaluate$$' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./mappings/ | tee bench/results/mappings.txt
	$(GO) test -run '^$$' -bench '^Benchmark(Verify|VerifyCallback)$$' -benchtime $(MICROTIME) -count $(BENCHRUNS) ./connectors/verify/ ./adapters/google/callback/ | tee bench/results/verify.txt
	$(GO) test -run '^$$' -bench '^BenchmarkSign$$' -benchtime $(MICROTIME) -count $(BENCHRUNS) ./adapters/webhooks/ | tee bench/results/sign.txt
	$(GO) test -run '^$$' -bench '^BenchmarkTemplatePushFanout$$' -benchtime 1x -count $(FANOUTRUNS) -timeout 60m ./adapters/apple/ | tee bench/results/fanout.txt
	$(GO) test -run '^$$' -bench '^BenchmarkDeliveryFanout$$' -benchtime 5x -count $(BENCHRUNS) ./adapters/webhooks/ | tee bench/results/webhooks.txt
	$(MAKE) --no-print-directory bench-load
	$(MAKE) --no-print-directory bench-peer
	@echo
	$(GO) run ./cmd/passhub-bench-report -dir bench/results

## bench-report: print make bench's table again from the results in bench/results (whatever parts ran;
##   missing ones are "not measured" rows) and rewrite bench/results/summary.json
bench-report:
	$(GO) run ./cmd/passhub-bench-report -dir bench/results

## bench-load: signed Shopify webhooks accepted durably/s over HTTP against a real passhub on PostgreSQL
##   and Redis (loopback; fresh database per series, dropped after): median (min–max) of LOADRUNS runs
##   per client concurrency, p50/p99, CPU by process; JSON in bench/results/load-shopify.json.
##   Then (see README "Load harness"): trigger → APNs push latency at APNSRATE webhooks/s (open loop, local
##   APNs mock) on PostgreSQL and on the embedded SQLite; Apple updated serials over SERIALSPASSES seeded
##   registrations; idle RSS of the embedded binary; JSON in
##   bench/results/load-{trigger-apns,trigger-apns-sqlite,serials,idle-rss}.json
bench-load:
	$(GO) run ./cmd/passhub-load -scenario shopify -mode $(LOADMODE) -c $(LOADCONC) -runs $(LOADRUNS) -duration $(LOADTIME) -out bench/results
	$(GO) run ./cmd/passhub-load -scenario trigger-apns -store $(APNSSTORE) -rate $(APNSRATE) -runs $(APNSRUNS) -out bench/results
	$(GO) run ./cmd/passhub-load -scenario serials -passes $(SERIALSPASSES) -c $(SERIALSCONC) -runs $(LOADRUNS) -out bench/results
	$(GO) run ./cmd/passhub-load -scenario idle-rss -runs $(RSSRUNS) -out bench/results

## bench-peer: .pkpass render+sign on one core, passhub vs the npm package passkit-generator (pinned in
##   bench/peer/package-lock.json, installed by `npm ci` into a temporary directory) making the same pass
##   with the same certificates; both packages verified with openssl first; median (min–max) of
##   PEERROUNDS alternating rounds and passhub ÷ peer; JSON in bench/results/peer-pkpass.json
bench-peer:
	$(GO) run ./cmd/passhub-bench-pkpass -rounds $(PEERROUNDS) -duration $(BENCHTIME) -out bench/results/peer-pkpass.json

## zapier-check: the Zapier integration (deploy/zapier) validated with the pinned zapier-platform-core and
##   tested against a passhub started on a free port; needs node and npm (not part of test: CI needs no npm)
zapier-check:
	deploy/zapier/check.sh

## lint: formatting and vet
lint: fmt vet
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
vet:
	$(GO) vet $(PKGS)
