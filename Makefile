# passhub — the two commands the README opens with are `make run` and `make test`.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 3s
BENCHRUNS ?= 6

.PHONY: run build test bench lint fmt vet

## run: start passhub with the embedded defaults (SQLite + in-process Redis) on 127.0.0.1:8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/passhub serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/passhub ./cmd/passhub

## test: the whole suite, against the local PostgreSQL and Redis (see .ci/run to start them)
test:
	$(GO) test -count=1 -timeout 9m $(PKGS)

## bench: pass creations per second through the API on SQLite and PostgreSQL;
## benchstat prints the median of BENCHRUNS runs (raw runs kept in bench/results/)
bench:
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench 'BenchmarkCreatePass' -benchtime $(BENCHTIME) -count $(BENCHRUNS) ./adapters/httpapi/ | tee bench/results/api.txt
	$(GO) tool benchstat bench/results/api.txt

## lint: formatting and vet
lint: fmt vet
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
vet:
	$(GO) vet $(PKGS)
