# zbauth — build, demo and test every surface.
#
#   make demo    run the main job against the embedded dev cluster
#   make test    all test suites (what CI runs)
#   make bench   benchmarks, written to docs/BENCHMARKS.md
#   make help    this list
#
# Each surface adds its own targets from its fragment (capi/capi.mk,
# wasm/wasm.mk, bindings/python/python.mk, bindings/node/node.mk) and
# appends to DEMOS, TESTS and BENCHES.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := $(CURDIR)/bin
BUILD := $(CURDIR)/build
ZBAUTH := $(BIN)/zbauth
GO_SOURCES := go.mod go.sum $(shell find core internal cmd -name '*.go' 2>/dev/null)
# Runs a command against a fresh dev cluster on a free loopback port.
WITH_CLUSTER := $(ZBAUTH) dev-cluster --

DEMOS :=
TESTS :=
BENCHES :=

.DEFAULT_GOAL := help
.PHONY: help build demo test bench bench-smoke demo-cli test-go test-race test-fuzz

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | expand -t 18

build: $(ZBAUTH) ## build the zbauth CLI into bin/

$(ZBAUTH): $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/zbauth

demo-cli: $(ZBAUTH) ## the CLI prints the dev cluster's topology
	@echo "== zbauth topology (CLI) against the dev cluster"
	$(WITH_CLUSTER) $(ZBAUTH) topology
DEMOS += demo-cli

# The private_key_jwt tests read PKCS#12 files as OpenSSL 3 and Java's
# keytool write them; openssl comes from Debian's apt when missing (keytool
# comes with the JDK the machine has).
.PHONY: deps-openssl
deps-openssl:
	@command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }

# The Wasm host's tests need the built module: test-wasm runs them.
test-go: deps-openssl ## Go tests with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v '/wasm/')
TESTS += test-go

# A fixed number of executions, not a duration: a -fuzztime deadline that
# expires while a new input is being minimised fails with "context deadline
# exceeded" (a go test quirk), which would make CI flaky.
FUZZTIME ?= 10000x
FUZZ_TARGETS := core:FuzzParseConfigJSON core:FuzzParseTokenResponse core:FuzzParseTopology core:FuzzParseProblem \
  core:FuzzParseDiscovery core:FuzzJWTExpiry core:FuzzCredentialFile
test-fuzz: ## run each fuzz target for FUZZTIME executions (seed corpus in core/testdata/fuzz)
	@mkdir -p $(BUILD)
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  if ! $(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) > $(BUILD)/fuzz-$$fn.log 2>&1; then \
	    tail -40 $(BUILD)/fuzz-$$fn.log; exit 1; fi; done
TESTS += test-fuzz

-include capi/capi.mk
-include wasm/wasm.mk
-include bindings/python/python.mk
-include bindings/node/node.mk
-include bench/bench.mk
-include interop/interop.mk

demo: $(DEMOS) ## run every surface against the embedded dev cluster

test: $(TESTS) ## all test suites
	@echo "make test: all suites passed ($(TESTS))"

bench: build $(BENCHES) ## benchmarks → docs/BENCHMARKS.md

clean: ## remove build outputs
	rm -rf $(BIN) $(BUILD)
