# wasm/wasm.mk — zbauth.wasm, the WebAssembly (WASI) plugin, and its hosts
# (included by the Makefile). See wasm/ABI.md and docs/wasm-design.md.
#
#   make wasm         build/zbauth.wasm (GOOS=wasip1, a reactor)
#   make test-wasm    Go host tests under wazero (race detector), then the
#                     same module under Node's built-in WASI
#   make demo-wasm    the topology through the plugin, against the dev cluster
#   make wasm-small   build/zbauth.small.wasm: zbauth.wasm through binaryen's
#                     wasm-opt -Oz (the npm package pinned in wasm/opt/)
#   make bench-wasm   module size, compile cold/cached, instantiate, cached
#                     token vs the Go core → build/bench/wasm.json

WASM_MODULE := $(BUILD)/zbauth.wasm
WASM_SOURCES := go.mod go.sum $(shell find core internal wasm/guest wasm/internal/wire -name '*.go' 2>/dev/null)
WASM_CACHE := $(BUILD)/wazero-cache
WASM_MAX_BYTES := 4194304
WASM_BENCH_RUNS = $(or $(BENCH_RUNS),3)
NODE ?= node
WASM_SMALL := $(BUILD)/zbauth.small.wasm
# binaryen's wasm-opt, from npm (wasm/opt/package-lock.json pins it); npm
# writes node_modules/.package-lock.json on every install: the stamp.
WASM_OPT_DEPS := wasm/opt/node_modules/.package-lock.json
WASM_OPT := wasm/opt/node_modules/.bin/wasm-opt
# The features Go's wasm output uses (wasm-opt refuses them otherwise).
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --strip-debug --strip-producers

.PHONY: wasm wasm-small test-wasm demo-wasm bench-wasm

wasm: $(WASM_MODULE) ## build build/zbauth.wasm, the WASI plugin

$(WASM_MODULE): $(WASM_SOURCES)
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -ldflags='-s -w' -o $@ ./wasm/guest
	@size=$$(stat -c %s $@); echo "zbauth.wasm: $$size bytes (target: at most $(WASM_MAX_BYTES))"; \
	  if [ $$size -gt $(WASM_MAX_BYTES) ]; then echo "warning: zbauth.wasm is above the 4 MiB target"; fi

$(WASM_OPT_DEPS): wasm/opt/package.json wasm/opt/package-lock.json
	cd wasm/opt && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Not the default module: it saves under a tenth of the size, takes most of
# a minute (binaryen runs as wasm under Node) and does not compile faster
# (docs/wasm-design.md, Size).
wasm-small: $(WASM_SMALL) ## build/zbauth.small.wasm: zbauth.wasm through wasm-opt -Oz

$(WASM_SMALL): $(WASM_MODULE) $(WASM_OPT_DEPS)
	$(WASM_OPT) $(WASM_OPT_FLAGS) $(WASM_MODULE) -o $@
	@echo "zbauth.small.wasm: $$(stat -c %s $@) bytes (zbauth.wasm: $$(stat -c %s $(WASM_MODULE)))"

test-wasm: $(WASM_MODULE) $(ZBAUTH) deps-openssl ## Wasm plugin: Go host tests (wazero) and a second runtime (node:wasi)
	@echo "== Wasm guest vet (wasip1)"
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./wasm/guest
	GOOS=wasip1 GOARCH=wasm $(GO) vet -tags zbauth_testexports ./wasm/guest
	@echo "== Wasm host tests (wazero, race detector, dev cluster on loopback)"
	ZBAUTH_WASM=$(WASM_MODULE) $(GO) test -race -count=1 ./wasm/...
	@echo "== zbauth.wasm under a second runtime: Node's node:wasi"
	ZBAUTH_WASM=$(WASM_MODULE) $(WITH_CLUSTER) $(NODE) --disable-warning=ExperimentalWarning --test wasm/node/
TESTS += test-wasm

demo-wasm: $(WASM_MODULE) $(ZBAUTH) ## the topology through zbauth.wasm (wazero host) against the dev cluster
	@echo "== zbauth topology through the Wasm plugin (wazero) against the dev cluster"
	$(WITH_CLUSTER) $(GO) run ./wasm/demo -module $(WASM_MODULE) -cache $(WASM_CACHE)
DEMOS += demo-wasm

bench-wasm: $(WASM_MODULE) $(WASM_SMALL) ## Wasm: size, compile cold/cached, instantiate, cached token vs the Go core
	@mkdir -p $(BUILD)/bench $(BUILD)/bench-bin
	$(GO) test -c -o $(BUILD)/bench-bin/wasm-host.test ./wasm/host
	@echo "== Wasm plugin benchmarks (testing.B, $(WASM_BENCH_RUNS) passes)"
	rm -f $(BUILD)/bench/wasm-bench.txt
	for i in $$(seq $(WASM_BENCH_RUNS)); do \
	  ZBAUTH_WASM=$(WASM_MODULE) $(BUILD)/bench-bin/wasm-host.test -test.run '^$$' -test.bench . \
	    -test.benchmem -test.count 1 | tee -a $(BUILD)/bench/wasm-bench.txt; done
	$(GO) -C bench run ./cmd/wasmjson -in $(BUILD)/bench/wasm-bench.txt -module $(WASM_MODULE) -small $(WASM_SMALL) -out $(BUILD)/bench/wasm.json
BENCHES += bench-wasm
